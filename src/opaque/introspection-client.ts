/** An answer larger than this is refused: no token's metadata needs it, and it would crowd the cache. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Why a call gave no answer. Each is a failure: never cached, and the Check is denied. */
export type IntrospectionFailure = 'timeout' | 'network' | 'status' | 'bad_response' | 'invalid_client';

export type IntrospectionAnswer =
  /** `claims` is the whole response object (RFC 7662 §2.2: its members describe the token). */
  | { kind: 'active'; claims: Readonly<Record<string, unknown>>; bytes: number }
  | { kind: 'inactive' }
  | { kind: 'failure'; cause: IntrospectionFailure };

export interface IntrospectionEndpoint {
  url: string;
  clientId: string;
  clientSecret: string;
  authMethod: 'client_secret_basic' | 'client_secret_post';
  timeoutMs: number;
}

/**
 * One RFC 7662 request. Anything but a 2xx JSON object with a boolean `active` within the timeout is a
 * failure; nothing of the response (nor the token, nor the secret) is put in the result's cause.
 */
export async function introspect(endpoint: IntrospectionEndpoint, token: string): Promise<IntrospectionAnswer> {
  const signal = AbortSignal.timeout(endpoint.timeoutMs);
  let response: Response;
  try {
    response = await fetch(endpoint.url, { method: 'POST', ...requestParts(endpoint, token), redirect: 'error', signal });
  } catch {
    return failure(signal.aborted ? 'timeout' : 'network');
  }
  try {
    const text = await response.text();
    if (Buffer.byteLength(text) > MAX_ANSWER_BYTES) return failure(response.ok ? 'bad_response' : 'status');
    const body = parseObject(text);
    // RFC 6749 §5.2: a rejected client is 401 (basic) or 400 with `invalid_client`; a config problem, not the token's.
    if (response.status === 401 || body?.error === 'invalid_client') return failure('invalid_client');
    if (!response.ok) return failure('status');
    if (body === undefined || typeof body.active !== 'boolean') return failure('bad_response');
    return body.active ? { kind: 'active', claims: body, bytes: text.length } : { kind: 'inactive' };
  } catch {
    return failure(signal.aborted ? 'timeout' : 'network');
  }
}

/** The form body and headers: the client authenticates by HTTP Basic (RFC 6749 §2.3.1) or in the body. */
function requestParts(endpoint: IntrospectionEndpoint, token: string): { headers: Record<string, string>; body: string } {
  const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' };
  if (endpoint.authMethod === 'client_secret_post') {
    form.set('client_id', endpoint.clientId);
    form.set('client_secret', endpoint.clientSecret);
  } else {
    // §2.3.1: both parts are form-urlencoded before they are joined, so a ":" in the id stays unambiguous.
    const credentials = `${formEncode(endpoint.clientId)}:${formEncode(endpoint.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  return { headers, body: form.toString() };
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function failure(cause: IntrospectionFailure): IntrospectionAnswer {
  return { kind: 'failure', cause };
}
