/**
 * Issue 29 with a real nginx running the auth location ingress-nginx generates for
 * `nginx.ingress.kubernetes.io/auth-url` (rootfs/etc/nginx/template/nginx.tmpl, `location = {{ $authPath }}`:
 * it sets X-Original-URL and X-Original-Method, X-Original-URI only with `auth-method`, and passes every
 * client header through with `proxy_pass_request_headers on`), and an nginx that, like Authelia's
 * documented config, sets X-Original-URL alone. A client's own request-line headers sent through them
 * must never get the upstream reached.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, startJwksServer, startRecordingApp, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { startNginx, type NginxConfig, type RunningNginx } from '../helpers/nginx.js';
import { es256Provider, nowSeconds, type RunningTollgate, startTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'api';

/** The auth location's lines as ingress-nginx renders them for auth-url (auth_request flavour, no auth cache or keepalive). */
function ingressAuthLocation(endpoint: string, authMethod?: string): string {
  return `
    location = /_external-auth-Lw-Prefix {
      internal;
      access_log off;
      proxy_pass_request_body     off;
      proxy_set_header            Content-Length          "";
      proxy_set_header            X-Forwarded-Proto       "";
      proxy_set_header            X-Request-ID            $req_id;
      ${authMethod ? `proxy_method ${authMethod};\n      proxy_set_header X-Original-URI $request_uri;\n      proxy_set_header X-Scheme $pass_access_scheme;` : ''}
      proxy_set_header            Host                    tollgate.default.svc.cluster.local;
      proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
      proxy_set_header            X-Original-Method       $request_method;
      proxy_set_header            X-Sent-From             "nginx-ingress-controller";
      proxy_set_header            X-Real-IP               $remote_addr;
      proxy_set_header            X-Forwarded-For         $remote_addr;
      proxy_set_header            X-Auth-Request-Redirect $request_uri;
      proxy_buffering             off;
      proxy_ssl_server_name       on;
      proxy_pass_request_headers  on;
      proxy_http_version          1.1;
      set $target http://127.0.0.1:9003${endpoint};
      proxy_pass $target;
    }`;
}

/** Authelia's documented nginx auth location: X-Original-URL and X-Original-Method, every client header passed. */
function urlOnlyAuthLocation(endpoint: string): string {
  return `
    location = /_external-auth-Lw-Prefix {
      internal;
      proxy_pass http://127.0.0.1:9003${endpoint};
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header Content-Length "";
      proxy_pass_request_body off;
    }`;
}

/** A server with one auth location and ingress-nginx's protected location (auth-response-headers: X-User-Id). */
function ingressConfig(name: string, authLocation: string): NginxConfig {
  return {
    name,
    text: `
worker_processes 1;
events { worker_connections 64; }
http {
  map $http_x_request_id $req_id { default $http_x_request_id; "" $request_id; }
  upstream upstream_balancer { server 127.0.0.1:8080; }
  server {
    listen 127.0.0.1:8000;
    ${authLocation}
    location / {
      set $pass_access_scheme $scheme;
      auth_request /_external-auth-Lw-Prefix;
      auth_request_set $auth_cookie $upstream_http_set_cookie;
      add_header Set-Cookie $auth_cookie;
      auth_request_set $authHeader0 $upstream_http_x_user_id;
      proxy_set_header 'X-User-Id' $authHeader0;
      proxy_set_header Host $http_host;
      proxy_pass http://upstream_balancer;
    }
  }
}
`,
  };
}

const SETUPS = [
  { name: 'ingress-nginx auth-url', config: ingressConfig('ingress-nginx auth-url', ingressAuthLocation('/ingress-nginx')) },
  {
    name: 'ingress-nginx auth-url with auth-method: GET',
    config: ingressConfig('ingress-nginx auth-method', ingressAuthLocation('/ingress-nginx', 'GET')),
  },
  { name: 'an nginx that sets X-Original-URL only', config: ingressConfig('X-Original-URL only', urlOnlyAuthLocation('/ingress-nginx')) },
];

describe.each(SETUPS)('$name, asking /ingress-nginx', ({ config }) => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let app: Awaited<ReturnType<typeof startRecordingApp>>;
  let nginx: RunningNginx;
  let key: TestKey;

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    tg = await startTollgate({
      providers: [
        { ...es256Provider(ISSUER, AUDIENCE, `${jwksServer.url}/jwks.json`), claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }] },
      ],
      rules: [
        { id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } },
        { id: 'admin', match: { paths: ['/admin/**'] }, require: { roles: { anyOf: ['admin'] } } },
        { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
      ],
    });
    app = await startRecordingApp();
    nginx = await startNginx({ app: app.port, tollgate: tg.app.authzPort }, config);
  });
  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await tg?.close();
    await jwksServer?.close();
  });

  /** One request through nginx (raw, so that any Host can be sent); the app's view of it, if it got one. */
  async function through(path: string, headers: Record<string, string>): Promise<{ status: number; upstream?: IncomingHttpHeaders }> {
    const { result: status, upstream } = await app.reached(
      () =>
        new Promise<number>((resolve, reject) => {
          const req = request(`${nginx.url}${path}`, { headers: { host: 'api.example.com', ...headers }, agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        }),
    );
    return { status, upstream };
  }

  it('serves what the rules allow: an anonymous route, and a token with its identity header', async () => {
    const anonymous = await through('/public/docs', { 'x-user-id': 'forged' });
    expect(anonymous.status).toBe(200);
    expect(anonymous.upstream?.['x-user-id']).toBeUndefined();
    const bearer = `Bearer ${await mint(ISSUER, AUDIENCE, { key, claims: { sub: 'alice' }, now: nowSeconds(tg.clock) })}`;
    const { status, upstream } = await through('/api/things?page=2', { authorization: bearer });
    expect(status).toBe(200);
    expect(upstream?.['x-user-id']).toBe('alice');
  });

  it.each([
    // The issue's reproduction: ingress-nginx sets X-Original-URL; the client adds X-Original-URI.
    ['X-Original-URI', { 'x-original-uri': '/public/x' }],
    ['X-Original-Host', { 'x-original-host': 'public.example.com' }],
    ['X-Original-URL', { 'x-original-url': 'http://api.example.com/public/x' }],
    ['X-Original-Method', { 'x-original-method': 'GET' }],
    ['X-Forwarded-Uri, -Method and -Host', { 'x-forwarded-uri': '/public/x', 'x-forwarded-method': 'GET', 'x-forwarded-host': 'x' }],
  ])("never reaches the upstream for /admin/users without a token, whatever the client's own %s says", async (_name, forged) => {
    const { status, upstream } = await through('/admin/users', forged);
    expect([401, 403]).toContain(status);
    expect(upstream).toBeUndefined();
  });

  it('never reaches the upstream when the Host would move the path inside X-Original-URL', async () => {
    for (const host of ['api.example.com?x', 'api.example.com#x', 'public@api.example.com']) {
      const { upstream } = await through('/admin/users', { host });
      expect(upstream, host).toBeUndefined();
    }
  });
});

describe('ingress-nginx auth-url pointed at /nginx (the endpoint for the X-Original-URI/-Host dialect)', () => {
  let tg: RunningTollgate;
  let app: TestHttpServer;
  let nginx: RunningNginx;
  let reached = 0;

  beforeAll(async () => {
    tg = await startTollgate({ rules: [{ id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } }] });
    app = await startHttpServer((_req, res) => {
      reached++;
      res.end('from the app');
    });
    nginx = await startNginx(
      { app: app.port, tollgate: tg.app.authzPort },
      ingressConfig('ingress-nginx at /nginx', ingressAuthLocation('/nginx')),
    );
  });
  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await tg?.close();
  });

  it('refuses every request, and a forged X-Original-URI and -Host cannot make one pass: it fails closed, never open', async () => {
    // Without the client's help /nginx lacks X-Original-URI and -Host; with it, they disagree with X-Original-URL.
    const refused = () => tg.logs.filter((l) => l.reason === 'invalid_request_line').length;
    const before = refused(); // startNginx's readiness probe was one
    for (const [path, headers] of [
      ['/public/x', {}],
      ['/admin/x', { 'x-original-uri': '/public/x', 'x-original-host': '127.0.0.1' }],
    ] as const) {
      const response = await fetch(`${nginx.url}${path}`, { headers });
      expect(response.status, path).toBe(403);
    }
    expect(reached).toBe(0);
    expect(refused() - before).toBe(2);
  });
});
