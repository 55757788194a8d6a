import type { IncomingMessage } from 'node:http';

export const MAX_BODY_BYTES = 64 * 1024;

/** Invalid UTF-8 is refused, not replaced: a revoked value stored with U+FFFD would match nothing. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** `application/json`, any case, with or without parameters (`; charset=utf-8`). */
const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * The JSON body, or undefined when there is none. Over the cap → 413 without reading the rest; a body
 * not declared `application/json` → 415; not UTF-8 or not JSON → 400.
 */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length === 0) return undefined;
  if (!JSON_MEDIA_TYPE.test(req.headers['content-type'] ?? '')) {
    throw new HttpError(415, 'unsupported_media_type', 'body: must be sent as content-type: application/json', 'body');
  }
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new HttpError(400, 'bad_request', 'body: must be UTF-8', 'body');
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'bad_request', 'body: must be valid JSON', 'body');
  }
}

function tooLarge(): HttpError {
  // Connection: close, so a client still sending the rest does not keep the socket busy.
  return new HttpError(413, 'payload_too_large', `body: must be at most ${MAX_BODY_BYTES} bytes`, 'body', {
    connection: 'close',
  });
}
