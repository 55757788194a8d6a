/**
 * The HTTP authorization port (listen.authz) itself, over real connections: what the parity table
 * does not cover (bodies, forged request lines, workload identity trust, routing, logs).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAuthz } from '../helpers/authz-http.js';
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
    for (const dialect of ['envoy', 'nginx', 'traefik'] as const) {
      const answer = await askAuthz(tg.app.authzPort, dialect, { path: '/internal/sync', method: 'POST', peer: GATEWAY });
      expect(answer.status, dialect).toBe(403);
      expect(JSON.parse(answer.body), dialect).toMatchObject({ reason: 'peer_not_allowed' });
    }
  });

  it('denies, never guesses, when the proxy does not describe the original request once', async () => {
    const headers = { authorization: await bearer() };
    const missing = await askAuthz(tg.app.authzPort, 'traefik', { headers }, { headers: { 'x-forwarded-uri': '' } });
    expect(missing.status).toBe(403);
    expect(JSON.parse(missing.body)).toMatchObject({ reason: 'invalid_path' });
    // Sent twice, X-Original-URI names no single request.
    const twice = await askAuthz(
      tg.app.authzPort,
      'nginx',
      { path: '/api/things', headers },
      { headers: { 'x-original-uri': ['/api/things', '/api/other'] } },
    );
    expect(twice.status).toBe(403);
    expect(JSON.parse(twice.body)).toMatchObject({ reason: 'invalid_path' });
  });

  it("reads ingress-nginx's X-Original-URL (auth-url), its path exactly as the client sent it", async () => {
    const port = tg.app.authzPort;
    const ask = async (url: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/nginx`, {
        headers: { authorization: await bearer(), 'x-original-url': url, 'x-original-method': 'GET' },
      });
      return { status: res.status, reason: res.status === 200 ? undefined : ((await res.json()) as { reason: string }).reason };
    };
    expect(await ask('https://api.example.com/api/things?page=2')).toEqual({ status: 200, reason: undefined });
    expect(await ask('https://api.example.com/internal/sync')).toEqual({ status: 403, reason: 'peer_not_allowed' });
    // A URL parser would have turned this into /api/things; tollgate refuses ".." above the root.
    expect(await ask('https://api.example.com/../api/things')).toEqual({ status: 403, reason: 'invalid_path' });
  });

  it('answers 404 outside /envoy/..., /nginx and /traefik', async () => {
    for (const path of ['/', '/envoy', '/envoyx/api', '/nginx/x', '/metrics']) {
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
