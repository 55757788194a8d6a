import type { CheckRequest } from '../envoy/types.js';

/**
 * The HTTP request as tollgate's stages see it: plain values parsed once from Envoy's CheckRequest
 * (the "request" room of the pipeline). Header names are lower-case; a name that Envoy sent several
 * times keeps every value, so later stages can refuse ambiguity instead of picking one.
 */
export interface RequestView {
  method: string;
  host: string;
  /** Raw `:path` as Envoy sent it, query and fragment included. */
  path: string;
  /** `http` or `https` as the client spoke it (`:scheme`; HTTP mode: `X-Forwarded-Proto`), for a DPoP proof's `htu`. */
  scheme?: string;
  headers: ReadonlyMap<string, readonly string[]>;
  /** Envoy's `source.principal`: the mTLS client certificate's URI SAN (else DNS SAN, else subject). */
  principal?: string;
  /** URL-encoded PEM of the client certificate, when Envoy was told to include it. */
  certificate?: string;
  /** `x-request-id`, for log lines. */
  requestId?: string;
  /**
   * The `direction` context extension (`inbound` or `egress`), set per Envoy listener or route by
   * `ExtAuthzPerRoute.check_settings.context_extensions`: the operator's, never the client's.
   */
  direction?: string;
}

export function requestViewFrom(request: CheckRequest): RequestView {
  const attributes = request.attributes ?? {};
  const http = attributes.request?.http ?? {};
  const headers = collectHeaders(http);
  const source = attributes.source ?? {};
  return {
    method: (http.method || first(headers, ':method') || '').toUpperCase(),
    host: http.host || first(headers, ':authority') || first(headers, 'host') || '',
    path: http.path || first(headers, ':path') || '',
    scheme: http.scheme || first(headers, ':scheme') || undefined,
    headers,
    principal: source.principal || undefined,
    certificate: source.certificate || undefined,
    requestId: http.id || first(headers, 'x-request-id'),
    direction: attributes.context_extensions?.direction || undefined,
  };
}

function first(headers: ReadonlyMap<string, readonly string[]>, name: string): string | undefined {
  return headers.get(name)?.[0];
}

/**
 * Envoy sends headers either as the `headers` map (values of repeated headers joined with ",") or,
 * with `encode_raw_headers`, as `header_map` entries carrying `raw_value` bytes. Envoy never sends both,
 * but a request that does is read from both: a header present in only one of them (a forged `x-user-*`)
 * must still be seen, to be removed. A `headers` entry that repeats what `header_map` already says
 * (its values joined with ",") is the same header and counted once. Names are compared lower-cased
 * whatever the sender did.
 */
function collectHeaders(http: NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const values = out.get(key);
    if (values) values.push(value);
    else out.set(key, [value]);
  };
  for (const h of http.header_map?.headers ?? []) {
    if (!h.key) continue;
    const value = h.raw_value && h.raw_value.length > 0 ? Buffer.from(h.raw_value).toString('latin1') : (h.value ?? '');
    add(h.key, value);
  }
  const rawCount = out.size;
  for (const name in http.headers) {
    const value = http.headers[name]!;
    if (rawCount === 0 || out.get(name.toLowerCase())?.join(',') !== value) add(name, value);
  }
  return out;
}
