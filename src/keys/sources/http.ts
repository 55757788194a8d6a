import { JwksSourceError } from '../errors.js';
import { displayUrl, transportProblem } from '../transport.js';
import type { SourceDocument } from './source.js';

export interface FetchLimits {
  timeoutMs: number;
  maxBytes: number;
  allowInsecureHttp: boolean;
}

/**
 * GET a small JSON document from a server we do not fully trust: https only (loopback excepted),
 * redirects refused (a redirect could point the fetch anywhere), the whole exchange bounded in time,
 * and the body bounded in size while it streams, whatever Content-Length claims.
 */
export async function fetchDocument(url: URL, limits: FetchLimits, signal: AbortSignal): Promise<SourceDocument> {
  const where = `GET ${displayUrl(url)}`;
  const problem = transportProblem(url.href, limits.allowInsecureHttp);
  if (problem) throw new JwksSourceError(`${where}: URL ${problem}`);
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const combined = AbortSignal.any([signal, timeout]);
  try {
    const res = await fetch(url, {
      redirect: 'manual',
      signal: combined,
      headers: { accept: 'application/jwk-set+json, application/json' },
    });
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel();
      throw new JwksSourceError(
        `${where}: HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`,
      );
    }
    const text = await readCapped(res, limits.maxBytes, where);
    return { text, maxAgeSeconds: maxAge(res.headers.get('cache-control')) };
  } catch (err) {
    if (err instanceof JwksSourceError) throw err;
    if (timeout.aborted) throw new JwksSourceError(`${where}: timed out after ${limits.timeoutMs / 1000}s`);
    if (signal.aborted) throw new JwksSourceError(`${where}: aborted`);
    throw new JwksSourceError(`${where}: ${err instanceof Error ? (causeMessage(err) ?? err.message) : String(err)}`);
  }
}

async function readCapped(res: Response, maxBytes: number, where: string): Promise<string> {
  const tooLarge = () => new JwksSourceError(`${where}: response larger than ${maxBytes} bytes`);
  const declared = Number(res.headers.get('content-length'));
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new JwksSourceError(`${where}: body is not UTF-8`);
  }
}

/** `max-age` in seconds; no-store/no-cache count as 0 (the caller clamps to its minimum). */
function maxAge(cacheControl: string | null): number | undefined {
  if (!cacheControl) return undefined;
  if (/(?:^|,)\s*no-(?:store|cache)\b/i.test(cacheControl)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** undici reports connection failures as "fetch failed" with the useful part (ECONNREFUSED…) in `cause`. */
function causeMessage(err: Error): string | undefined {
  const cause: unknown = err.cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : undefined;
}
