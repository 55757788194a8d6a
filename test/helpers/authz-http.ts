import { request } from 'node:http';
import type { AuthzDialect } from '../../src/server/authz-http/requests.js';

export type Dialect = AuthzDialect;

/** The client's original request, as the proxy in front of tollgate received it. */
export interface OriginalRequest {
  method?: string;
  /** Path and query, as the client sent them. */
  path?: string;
  host?: string;
  /** A list is a header the client sent several times. */
  headers?: Record<string, string | string[]>;
  /** The client certificate's URI SAN, which the proxy reports in X-Forwarded-Client-Cert. */
  peer?: string;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Asks tollgate's HTTP authorization port about `original` the way each proxy does: Envoy's
 * http_service repeats the request under `/envoy`; nginx running examples/nginx/nginx.conf, the auth
 * location ingress-nginx generates for `auth-url` (without `auth-method`) and Traefik's forwardAuth
 * (`trustForwardHeader: false`) describe it in headers, each setting its own and passing every other
 * client header through. The proxy adds X-Forwarded-Client-Cert for a client certificate, as Envoy's
 * forward_client_cert_details does.
 */
export function askAuthz(
  port: number,
  dialect: Dialect,
  original: OriginalRequest,
  extra: { headers?: Record<string, string | string[] | undefined> } = {},
): Promise<HttpAnswer> {
  const method = original.method ?? 'GET';
  const path = original.path ?? '/api/things';
  const host = original.host ?? 'api.example.com';
  const headers: Record<string, string | string[]> = { ...original.headers };
  if (original.peer)
    headers['x-forwarded-client-cert'] =
      `By=spiffe://cluster.local/ns/edge/sa/proxy;Hash=0a1b2c;Subject="CN=client,O=example";URI=${original.peer}`;
  const requestLine = {
    envoy: { method, path: `/envoy${path}`, headers: { ...headers, host } },
    nginx: {
      method,
      path: '/nginx',
      headers: {
        ...headers,
        host: 'tollgate',
        'x-original-method': method,
        'x-original-uri': path,
        'x-original-host': host,
        // The example clears what it does not set (nginx sends no empty header).
        'x-original-url': undefined,
        'x-forwarded-client-cert': original.peer ? headers['x-forwarded-client-cert'] : undefined,
      },
    },
    'ingress-nginx': {
      method: 'GET',
      path: '/ingress-nginx',
      headers: {
        ...headers,
        host: 'tollgate',
        'x-original-url': `http://${host}${path}`,
        'x-original-method': method,
        'x-sent-from': 'nginx-ingress-controller',
        'x-real-ip': '192.0.2.1',
        'x-forwarded-for': '192.0.2.1',
        'x-forwarded-proto': undefined,
        'x-auth-request-redirect': path,
      },
    },
    traefik: {
      method: 'GET',
      path: '/traefik',
      headers: {
        ...headers,
        host: 'tollgate',
        'x-forwarded-method': method,
        'x-forwarded-uri': path,
        'x-forwarded-host': host,
        'x-forwarded-proto': 'https',
      },
    },
  }[dialect];
  // `extra.headers` last: a test may override what the proxy would send.
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, ...requestLine, headers: present({ ...requestLine.headers, ...extra.headers }), agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const flat: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) flat[name] = Array.isArray(value) ? value.join(', ') : (value ?? '');
          resolve({ status: res.statusCode ?? 0, headers: flat, body: Buffer.concat(chunks).toString() });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The headers with a value: `undefined` is one the proxy removes. */
function present(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string | string[]] => entry[1] !== undefined));
}

/**
 * A client's own description of the request line, naming a public path or an internal host: what a
 * proxy in front of the HTTP authorization port must overwrite or drop (issue 29). Each proxy's test
 * sends these through the real proxy for a request to `/admin/users` and expects the upstream unreached.
 */
export const FORGED_REQUEST_LINES: Array<[string, Record<string, string>]> = [
  ['X-Original-URI, -Method and -Host', { 'x-original-uri': '/public/docs', 'x-original-method': 'GET', 'x-original-host': 'localhost' }],
  ['X-Original-URL', { 'x-original-url': 'http://localhost/public/docs' }],
  [
    'X-Forwarded-Uri, -Method and -Host',
    { 'x-forwarded-uri': '/public/docs', 'x-forwarded-method': 'GET', 'x-forwarded-host': 'localhost' },
  ],
];

/** Headers an app could believe, as a client forges them: none may reach the app through the proxy. */
export const FORGED_BELIEVABLE_HEADERS: Record<string, string> = {
  'x-user-view-as': 'student',
  'x-tollgate-view-as': 'student',
  'x-forwarded-client-cert': 'URI=spiffe://cluster.local/ns/edge/sa/gateway',
  'x-original-url': 'http://localhost/admin',
  'x-original-uri': '/admin',
  'x-original-method': 'DELETE',
  'x-original-host': 'admin.example.com',
  'x-forwarded-method': 'DELETE',
  'x-forwarded-uri': '/admin',
  'x-forwarded-host': 'admin.example.com',
  'x-forwarded-proto': 'https',
  'x-forwarded-for': '10.0.0.1',
  'x-real-ip': '10.0.0.1',
  forwarded: 'for=10.0.0.1;host=admin.example.com',
};

/** Of those, the ones the proxy must drop (the address headers it sets itself, which each test checks). */
export const MUST_NOT_REACH_APP = [
  'x-user-view-as',
  'x-tollgate-view-as',
  'x-forwarded-client-cert',
  'x-original-url',
  'x-original-uri',
  'x-original-method',
  'x-original-host',
  'x-forwarded-method',
  'x-forwarded-uri',
  'forwarded',
];
