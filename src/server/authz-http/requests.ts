import type { RequestView } from '../../pipeline/request.js';
import { normalizeHost } from '../../policy/index.js';
import { peerFromXfcc } from './xfcc.js';

/**
 * The HTTP authorization port's dialects, each turning one proxy's authorization request into the
 * pipeline's RequestView: which request the proxy is asking about, with which headers.
 */
export type AuthzDialect = 'envoy' | 'nginx' | 'ingress-nginx' | 'traefik';

/** The parts of node's IncomingMessage an adapter reads; bodies never. */
export interface AuthzHttpRequest {
  method?: string;
  url?: string;
  headersDistinct: Record<string, string[] | undefined>;
}

export interface AuthzRequestOptions {
  /** authz.trustForwardedClientCert: the workload identity comes from X-Forwarded-Client-Cert. */
  trustForwardedClientCert: boolean;
}

/** The Envoy http_service prefix (`path_prefix: /envoy`): the original path follows it. */
const ENVOY_PREFIX = '/envoy';

const ENDPOINTS: ReadonlyMap<string, AuthzDialect> = new Map([
  ['/nginx', 'nginx'],
  ['/ingress-nginx', 'ingress-nginx'],
  ['/traefik', 'traefik'],
]);

/** Which dialect a request path names; undefined for any other path (answered 404). */
export function dialectOf(url: string): AuthzDialect | undefined {
  if (url.startsWith(`${ENVOY_PREFIX}/`)) return 'envoy';
  return ENDPOINTS.get(url.split('?', 1)[0]!);
}

/** What the proxy says about the original request line. */
interface RequestLine {
  method: string;
  host: string;
  path: string;
}

/** One header that describes (part of) the request line; undefined when its value describes nothing. */
interface LineHeader {
  name: string;
  read(value: string): Partial<RequestLine> | undefined;
}

const method = (name: string): LineHeader => ({ name, read: (value) => ({ method: value.toUpperCase() }) });
const path = (name: string): LineHeader => ({ name, read: (value) => ({ path: value }) });
const host = (name: string): LineHeader => ({ name, read: (value) => ({ host: value }) });
const url = (name: string): LineHeader => ({ name, read: splitUrl });

const ORIGINAL = {
  method: method('x-original-method'),
  uri: path('x-original-uri'),
  host: host('x-original-host'),
  url: url('x-original-url'),
};

/**
 * Each proxy's headers: `reads` are the ones that proxy sets itself, each required exactly once, so a
 * proxy that does not set one is found at its first request instead of leaving the header to its
 * clients. `crossChecks` are the rest of the same family, which that proxy passes through from the
 * client untouched: present, they must say what `reads` say, or the request is refused. That is what
 * keeps a client's own X-Original-URI from mattering behind ingress-nginx (which sets only
 * X-Original-URL), and catches a proxy pointed at the other nginx endpoint. docs/design-decisions.md
 * ("One endpoint per proxy") has the reasons.
 */
const DIALECTS: Record<Exclude<AuthzDialect, 'envoy'>, { reads: readonly LineHeader[]; crossChecks: readonly LineHeader[] }> = {
  // The project's examples/nginx/nginx.conf.
  nginx: { reads: [ORIGINAL.method, ORIGINAL.uri, ORIGINAL.host], crossChecks: [ORIGINAL.url] },
  // ingress-nginx's auth-url location (X-Original-URI only with auth-method), and nginx configs like Authelia's.
  'ingress-nginx': { reads: [ORIGINAL.method, ORIGINAL.url], crossChecks: [ORIGINAL.uri, ORIGINAL.host] },
  // Traefik's forwardAuth with trustForwardHeader: false overwrites all three.
  traefik: { reads: [method('x-forwarded-method'), path('x-forwarded-uri'), host('x-forwarded-host')], crossChecks: [] },
};

/**
 * The request the proxy asks about, as the pipeline sees it. Envoy's http_service repeats the original
 * request (method, `/envoy` + path, headers); nginx's auth_request, ingress-nginx and Traefik's
 * forwardAuth describe it in headers. When those headers do not name exactly one request, the answer
 * is `invalid_request_line` (denied before any token or rule), never a guess.
 */
export function requestViewOf(
  dialect: AuthzDialect,
  req: AuthzHttpRequest,
  options: AuthzRequestOptions,
): RequestView | 'invalid_request_line' {
  const lineHeaders = dialect === 'envoy' ? [] : [...DIALECTS[dialect].reads, ...DIALECTS[dialect].crossChecks];
  const line = dialect === 'envoy' ? envoyLine(req) : describedLine(DIALECTS[dialect].reads, lineHeaders, req.headersDistinct);
  if (!line) return 'invalid_request_line';
  // The request-line headers are the proxy's description, not the client's request: kept out of match.headers.
  const headers = new Map<string, string[]>();
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values && !lineHeaders.some((h) => h.name === name)) headers.set(name, values);
  }
  const peer = options.trustForwardedClientCert ? peerFromXfcc(req.headersDistinct['x-forwarded-client-cert'] ?? []) : {};
  return {
    ...line,
    // The proxy's word for the client's scheme (a DPoP proof's `htu`); sent twice it says nothing.
    scheme: single(req.headersDistinct['x-forwarded-proto']),
    headers,
    principal: peer.principal,
    certificate: peer.certificate,
    requestId: single(req.headersDistinct['x-request-id']),
  };
}

function envoyLine(req: AuthzHttpRequest): RequestLine {
  return {
    method: (req.method ?? '').toUpperCase(),
    host: single(req.headersDistinct.host) ?? '',
    path: (req.url ?? '').slice(ENVOY_PREFIX.length),
  };
}

/**
 * The request line the headers agree on, or undefined: a required header missing or empty, any of them
 * repeated or unreadable, or two of them naming different paths or hosts (hosts compared as the
 * policy compares them: case and port aside).
 */
function describedLine(
  reads: readonly LineHeader[],
  all: readonly LineHeader[],
  headers: AuthzHttpRequest['headersDistinct'],
): RequestLine | undefined {
  const line: Partial<RequestLine> = {};
  for (const header of all) {
    const values = headers[header.name];
    if (values === undefined && !reads.includes(header)) continue;
    if (values?.length !== 1 || values[0] === '') return undefined;
    const said = header.read(values[0]!);
    if (!said) return undefined;
    for (const [field, value] of Object.entries(said) as Array<[keyof RequestLine, string]>) {
      const before = line[field];
      if (before !== undefined && (field === 'host' ? normalizeHost(before) !== normalizeHost(value) : before !== value)) return undefined;
      line[field] ??= value;
    }
  }
  return line.method && line.host && line.path ? { method: line.method, host: line.host, path: line.path } : undefined;
}

/**
 * `scheme://authority/path?query` split by hand, the path kept byte for byte: WHATWG URL parsing would
 * resolve dot segments and re-encode, deciding on a different path than the one the upstream receives.
 * nginx builds the URL from the client's Host header and `$request_uri`, so a Host holding `?`, `#` or
 * `@` could move part of the authority into the path (or the real host into userinfo): anything but
 * `authority` + a path starting with `/` describes nothing.
 */
function splitUrl(value: string): Partial<RequestLine> | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#@]+)(\/.*)$/s.exec(value);
  return match ? { host: match[1]!, path: match[2]! } : undefined;
}

/** A header that must describe one thing: sent twice, it describes nothing. */
function single(values: readonly string[] | undefined): string | undefined {
  return values?.length === 1 ? values[0] : undefined;
}
