/**
 * The HTTP authorization port (listen.authz) itself, over real connections: what the parity table
 * does not cover (bodies, forged request lines, workload identity trust, routing, logs).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAuthz, type Dialect } from '../helpers/authz-http.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'api';
const GATEWAY = 'spiffe://cluster.local/ns/edge/sa/gateway';

const config = (jwksUrl: string) => ({
  providers: [
    {
      name: 'idp',
      issuer: ISSUER,
      audiences: [AUDIENCE],
      algorithms: ['ES256'],
      jwks: { uri: jwksUrl },
      claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }],
    },
  ],
  rules: [
    { id: 'internal', match: { paths: ['/internal/**'] }, require: { peer: { principals: [GATEWAY] } } },
    // Rules that would see the proxy's request-line headers if they reached match.headers, or the host.
    {
      id: 'line-header',
      match: { paths: ['/probe/**'], headers: [{ name: 'x-original-method', present: true }] },
      require: { peer: { principals: [GATEWAY] } },
    },
    {
      id: 'forwarded-header',
      match: { paths: ['/probe/**'], headers: [{ name: 'x-forwarded-uri', present: true }] },
      require: { peer: { principals: [GATEWAY] } },
    },
    { id: 'admin-host', match: { hosts: ['admin.example.com'] }, require: { peer: { principals: [GATEWAY] } } },
    { id: 'hostless', match: { paths: ['/hostless/**'] }, require: { when: "request.host == ''" } },
    { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
  ],
});

/** Writes `head` and a little of its body on a raw socket; resolves with what came back once the server closed. */
function rawExchange(port: number, head: string, bodyStart: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.write(head + bodyStart);
  });
}

describe('the HTTP authorization port', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let key: TestKey;
  const bearer = async () => `Bearer ${await mint(ISSUER, AUDIENCE, { key, claims: { sub: 'alice' }, now: nowSeconds(tg.clock) })}`;

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    tg = await startTollgate(config(`${jwksServer.url}/jwks.json`)); // authz.trustForwardedClientCert: false
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
  });

  it('answers without reading a body: a request announcing 1 GiB is decided, and its connection closed', async () => {
    const head = `POST /envoy/api/upload HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: ${await bearer()}\r\nContent-Length: ${2 ** 30}\r\n\r\n`;
    const reply = await rawExchange(tg.app.authzPort, head, 'x'.repeat(1024));
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply.toLowerCase()).toContain('connection: close');
    expect(reply.toLowerCase()).toContain('x-user-id: alice');
  });

  it('ignores X-Forwarded-Client-Cert unless authz.trustForwardedClientCert is set', async () => {
    for (const dialect of ['envoy', 'nginx', 'ingress-nginx', 'traefik'] as const) {
      const answer = await askAuthz(tg.app.authzPort, dialect, { path: '/internal/sync', method: 'POST', peer: GATEWAY });
      expect(answer.status, dialect).toBe(403);
      expect(JSON.parse(answer.body), dialect).toMatchObject({ reason: 'peer_not_allowed' });
    }
  });

  /** The denial reason of an answer; undefined for an allow. */
  const reasonOf = (answer: { status: number; body: string }) =>
    answer.status === 200 ? undefined : (JSON.parse(answer.body) as { reason: string }).reason;

  it('refuses (invalid_request_line), never guesses, when a request-line header is missing, empty or repeated, on every dialect', async () => {
    const headers = { authorization: await bearer() };
    const cases: Array<[Dialect, Record<string, string | string[] | undefined>]> = [
      ['nginx', { 'x-original-uri': undefined }],
      ['nginx', { 'x-original-method': undefined }],
      // No fallback to the Host of the authorization request: nginx's example sets X-Original-Host.
      ['nginx', { 'x-original-host': undefined }],
      ['nginx', { 'x-original-uri': ['/api/things', '/api/other'] }],
      // A rule without `methods` must not make a repeated method harmless.
      ['nginx', { 'x-original-method': ['GET', 'GET'] }],
      ['ingress-nginx', { 'x-original-url': undefined }],
      ['ingress-nginx', { 'x-original-method': ['GET', 'POST'] }],
      ['ingress-nginx', { 'x-original-url': ['http://api.example.com/api/things', 'http://api.example.com/api/things'] }],
      ['traefik', { 'x-forwarded-uri': '' }],
      // Never the authorization request's own method or URL (issue 34).
      ['traefik', { 'x-forwarded-uri': undefined }],
      ['traefik', { 'x-forwarded-method': undefined }],
      ['traefik', { 'x-forwarded-host': undefined }],
      ['traefik', { 'x-forwarded-method': ['GET', 'GET'] }],
    ];
    for (const [dialect, overrides] of cases) {
      const answer = await askAuthz(tg.app.authzPort, dialect, { path: '/api/things', headers }, { headers: overrides });
      expect({ dialect, overrides, status: answer.status, reason: reasonOf(answer) }).toEqual({
        dialect,
        overrides,
        status: 403,
        reason: 'invalid_request_line',
      });
    }
  });

  it('refuses a request whose request-line headers disagree: a client cannot pick the path or host tollgate decides on', async () => {
    const port = tg.app.authzPort;
    const ask = (dialect: Dialect, headers: Record<string, string>) => askAuthz(port, dialect, { path: '/internal/sync' }, { headers });
    // Behind ingress-nginx (X-Original-URL set, every client header passed): the issue's reproduction.
    for (const forged of [{ 'x-original-uri': '/api/things' }, { 'x-original-host': 'other.example.com' }] as Array<Record<string, string>>)
      expect(reasonOf(await ask('ingress-nginx', forged)), JSON.stringify(forged)).toBe('invalid_request_line');
    // The project's nginx endpoint, asked with an X-Original-URL its config did not clear.
    expect(reasonOf(await ask('nginx', { 'x-original-url': 'http://api.example.com/api/things' }))).toBe('invalid_request_line');
    expect(reasonOf(await ask('nginx', { 'x-original-url': 'http://other.example.com/internal/sync' }))).toBe('invalid_request_line');
    // Agreement is not a conflict: ingress-nginx's auth-method adds X-Original-URI; a host differs only in case and port.
    const agreeing = { 'x-original-uri': '/internal/sync', 'x-original-host': 'API.example.com:443' };
    expect(reasonOf(await ask('ingress-nginx', agreeing))).toBe('peer_not_allowed');
    expect(reasonOf(await ask('nginx', { 'x-original-url': 'https://api.example.com:8443/internal/sync' }))).toBe('peer_not_allowed');
  });

  it("keeps the proxy's request-line headers out of match.headers, and decides on the host each dialect names", async () => {
    const headers = { authorization: await bearer() };
    for (const dialect of ['envoy', 'nginx', 'ingress-nginx', 'traefik'] as const) {
      const probe = await askAuthz(tg.app.authzPort, dialect, { path: '/probe/x', headers });
      expect([dialect, probe.status]).toEqual([dialect, 200]);
      const admin = await askAuthz(tg.app.authzPort, dialect, { host: 'admin.example.com', headers });
      expect([dialect, reasonOf(admin)]).toEqual([dialect, 'peer_not_allowed']);
    }
  });

  it('reads no host from an HTTP/1.0 request without Host on the envoy endpoint: the host is empty, never made up', async () => {
    // Only HTTP/1.0 may leave Host out (node answers 400 to HTTP/1.1 without one); Envoy always sends it.
    const hostless = await rawExchange(tg.app.authzPort, 'GET /envoy/hostless/x HTTP/1.0\r\n\r\n', '');
    expect(hostless).toMatch(/^HTTP\/1\.1 200 /);
    const hosted = await rawExchange(tg.app.authzPort, 'GET /envoy/hostless/x HTTP/1.0\r\nHost: api.example.com\r\n\r\n', '');
    expect(hosted).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('compares the paths of two request-line headers exactly (a host aside, case matters in a path)', async () => {
    const answer = await askAuthz(
      tg.app.authzPort,
      'ingress-nginx',
      { path: '/internal/sync' },
      { headers: { 'x-original-uri': '/Internal/sync' } },
    );
    expect(reasonOf(answer)).toBe('invalid_request_line');
  });

  it('refuses ingress-nginx pointed at /nginx: X-Original-URL alone describes nothing there', async () => {
    const answer = await askAuthz(
      tg.app.authzPort,
      'nginx',
      { headers: { authorization: await bearer() } },
      { headers: { 'x-original-uri': undefined, 'x-original-host': undefined, 'x-original-url': 'http://api.example.com/api/things' } },
    );
    expect(reasonOf(answer)).toBe('invalid_request_line');
  });

  it("reads ingress-nginx's X-Original-URL on /ingress-nginx, its path exactly as the client sent it", async () => {
    const port = tg.app.authzPort;
    const ask = async (url: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/ingress-nginx`, {
        headers: { authorization: await bearer(), 'x-original-url': url, 'x-original-method': 'GET' },
      });
      return { status: res.status, reason: res.status === 200 ? undefined : ((await res.json()) as { reason: string }).reason };
    };
    expect(await ask('https://api.example.com/api/things?page=2')).toEqual({ status: 200, reason: undefined });
    expect(await ask('https://api.example.com/internal/sync')).toEqual({ status: 403, reason: 'peer_not_allowed' });
    // A URL parser would have turned this into /api/things; tollgate refuses ".." above the root.
    expect(await ask('https://api.example.com/../api/things')).toEqual({ status: 403, reason: 'invalid_path' });
    // nginx builds the URL from the client's Host: one holding "?", "#" or "@" would move the path.
    const urls = [
      'http://api.example.com?x/internal/sync',
      'http://a#/internal/sync',
      'http://public@api.example.com/internal/sync',
      // A URL must start the value: not one found inside another path.
      '/login?next=http://api.example.com/api/things',
    ];
    for (const url of urls) expect(await ask(url), url).toEqual({ status: 403, reason: 'invalid_request_line' });
    expect(await ask('http://api.example.com')).toEqual({ status: 403, reason: 'invalid_request_line' });
  });

  it('answers 404 outside /envoy/..., /nginx, /ingress-nginx and /traefik', async () => {
    for (const path of ['/', '/envoy', '/envoyx/api', '/nginx/x', '/ingress-nginx/', '/ingress', '/metrics']) {
      const res = await fetch(`http://127.0.0.1:${tg.app.authzPort}${path}`);
      expect(res.status, path).toBe(404);
    }
  });

  it('logs a denial like gRPC Check does, with its transport, and never the token', async () => {
    const token = await mint(ISSUER, 'other-api', { key, now: nowSeconds(tg.clock) });
    const answer = await askAuthz(tg.app.authzPort, 'nginx', {
      path: '/api/x?access_token=secret',
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-http-1' },
    });
    expect(answer.status).toBe(401);
    const line = tg.logs.find((l) => l.requestId === 'req-http-1');
    expect(line).toMatchObject({ decision: 'deny', reason: 'invalid_audience', transport: 'http', method: 'GET', path: '/api/x' });
    expect(tg.logText()).not.toContain(token.split('.')[2]);
    expect(tg.logText()).not.toContain('access_token=secret');
  });
});

describe('the HTTP authorization port with authz.trustForwardedClientCert', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;

  beforeAll(async () => {
    jwksServer = await startJwksServer(jwks(await testKey('ES256')));
    tg = await startTollgate({ ...config(`${jwksServer.url}/jwks.json`), authz: { trustForwardedClientCert: true } });
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
  });

  it("takes the workload identity from the nearest proxy's X-Forwarded-Client-Cert element", async () => {
    const allowed = await askAuthz(tg.app.authzPort, 'envoy', { path: '/internal/sync', method: 'POST', peer: GATEWAY });
    expect(allowed.status).toBe(200);
    // A client's own element, placed before the proxy's, names nobody.
    const forged = await askAuthz(
      tg.app.authzPort,
      'envoy',
      { path: '/internal/sync', method: 'POST', peer: 'spiffe://cluster.local/ns/web/sa/frontend' },
      {
        headers: { 'x-forwarded-client-cert': `URI=${GATEWAY},By=spiffe://x/proxy;URI=spiffe://cluster.local/ns/web/sa/frontend` },
      },
    );
    expect(forged.status).toBe(403);
  });
});
