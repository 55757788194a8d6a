import type { RequestView } from '../../pipeline/request.js';
import { peerFromXfcc } from './xfcc.js';

/**
 * The HTTP authorization port's three dialects, each turning the proxy's authorization request into
 * the pipeline's RequestView: which request the proxy is asking about, with which headers.
 */
export type AuthzDialect = 'envoy' | 'nginx' | 'traefik';

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

/** Which dialect a request path names; undefined for any other path (answered 404). */
export function dialectOf(url: string): AuthzDialect | undefined {
  const path = url.split('?', 1)[0];
  if (url.startsWith(`${ENVOY_PREFIX}/`)) return 'envoy';
  if (path === '/nginx') return 'nginx';
  if (path === '/traefik') return 'traefik';
  return undefined;
}

/**
 * The headers each proxy adds to describe the original request line: they are the proxy's, not the
 * client's, so they are read for the request line and kept out of the headers the policy sees.
 */
const REQUEST_LINE_HEADERS: Record<AuthzDialect, readonly string[]> = {
  envoy: [],
  nginx: ['x-original-method', 'x-original-uri', 'x-original-host', 'x-original-url'],
  traefik: ['x-forwarded-method', 'x-forwarded-uri', 'x-forwarded-host'],
};

/**
 * The request the proxy asks about, as the pipeline sees it. Envoy's http_service repeats the original
 * request (method, `/envoy` + path, headers); nginx's auth_request and Traefik's forwardAuth describe
 * it in headers. A missing original method or URI leaves the field empty, which the policy denies
 * (`invalid_path`) rather than guessing.
 */
export function requestViewOf(dialect: AuthzDialect, req: AuthzHttpRequest, options: AuthzRequestOptions): RequestView {
  const headers = new Map<string, string[]>();
  const own = REQUEST_LINE_HEADERS[dialect];
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values && !own.includes(name)) headers.set(name, values);
  }
  const one = (name: string) => single(req.headersDistinct[name]);
  const line = requestLine(dialect, req, one);
  const peer = options.trustForwardedClientCert ? peerFromXfcc(req.headersDistinct['x-forwarded-client-cert'] ?? []) : {};
  return {
    method: line.method.toUpperCase(),
    host: line.host,
    path: line.path,
    headers,
    principal: peer.principal,
    certificate: peer.certificate,
    requestId: one('x-request-id'),
  };
}

function requestLine(
  dialect: AuthzDialect,
  req: AuthzHttpRequest,
  one: (name: string) => string | undefined,
): { method: string; host: string; path: string } {
  const host = one('host') ?? '';
  switch (dialect) {
    case 'envoy':
      return { method: req.method ?? '', host, path: (req.url ?? '').slice(ENVOY_PREFIX.length) };
    case 'nginx': {
      // ingress-nginx's auth-url sends the whole URL (X-Original-URL) instead of the URI and host.
      const url = splitUrl(one('x-original-url'));
      return {
        method: one('x-original-method') ?? '',
        host: one('x-original-host') ?? url?.host ?? host,
        path: one('x-original-uri') ?? url?.path ?? '',
      };
    }
    case 'traefik':
      return { method: one('x-forwarded-method') ?? '', host: one('x-forwarded-host') ?? host, path: one('x-forwarded-uri') ?? '' };
  }
}

/**
 * `scheme://authority/path?query` split by hand, the path kept byte for byte: WHATWG URL parsing would
 * resolve dot segments and re-encode, deciding on a different path than the one the upstream receives.
 */
function splitUrl(url: string | undefined): { host: string; path: string } | undefined {
  const match = url === undefined ? null : /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)(.*)$/s.exec(url);
  if (!match) return undefined;
  const authority = match[1]!.slice(match[1]!.lastIndexOf('@') + 1);
  const rest = match[2]!;
  return { host: authority, path: rest === '' || rest.startsWith('/') ? rest || '/' : `/${rest}` };
}

/** A header that must describe one thing: sent twice, it describes nothing (and the policy denies). */
function single(values: readonly string[] | undefined): string | undefined {
  return values?.length === 1 ? values[0] : undefined;
}
