/**
 * Caddy's forward_auth in front of an app, asking tollgate's /traefik endpoint: a real Caddy (Debian's
 * 2.6) running examples/caddy/Caddyfile, a real upstream, tollgate on loopback. Forged request-line
 * and identity headers are sent through Caddy, as a client would.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCaddy, type RunningCaddy } from '../helpers/caddy.js';
import { FORGED_BELIEVABLE_HEADERS, FORGED_REQUEST_LINES, MUST_NOT_REACH_APP } from '../helpers/authz-http.js';
import { startJwksServer, startRecordingApp, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { es256Provider, nowSeconds, type RunningTollgate, startTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'api';

describe('Caddy forward_auth with examples/caddy/Caddyfile', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let app: Awaited<ReturnType<typeof startRecordingApp>>;
  let caddy: RunningCaddy;
  let key: TestKey;
  /** The headers of each request the app received. */
  const token = (claims: Record<string, unknown> = {}, ttlSeconds = 300, now = nowSeconds(tg.clock)) =>
    mint(ISSUER, AUDIENCE, { key, claims, now, ttlSeconds });
  const alice = () => token({ sub: 'alice', roles: { course: { teacher: ['123'] } } });

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    tg = await startTollgate({
      providers: [
        {
          ...es256Provider(ISSUER, AUDIENCE, `${jwksServer.url}/jwks.json`),
          claimToHeaders: [
            { header: 'x-user-id', claim: 'sub' },
            { header: 'x-user-roles', claim: 'roles' },
          ],
        },
      ],
      rules: [
        { id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } },
        // Open only on a host no client reaches through this Caddy: a forged X-Forwarded-Host must not open it.
        { id: 'internal-host', match: { hosts: ['internal.example.com'] }, require: { anonymous: true } },
        {
          id: 'grades',
          match: { methods: ['GET'], paths: ['/courses/{courseId}/grades'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'] } },
        },
        { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
      ],
    });
    app = await startRecordingApp();
    caddy = await startCaddy({ app: app.port, tollgate: tg.app.authzPort });
  });
  afterAll(async () => {
    await caddy?.stop();
    await app?.close();
    await tg?.close();
    await jwksServer?.close();
  });

  /** Sends one request through Caddy and returns what the app saw of it (undefined: the app saw no request). */
  async function through(
    path: string,
    headers: Record<string, string>,
    method = 'GET',
  ): Promise<{ response: Response; body: string; upstream?: IncomingHttpHeaders }> {
    const { result, upstream } = await app.reached(async () => {
      const response = await fetch(`${caddy.url}${path}`, { method, headers });
      return { response, body: await response.text() };
    });
    return { ...result, upstream };
  }

  it("passes a valid token's request with tollgate's identity headers only: the forged ones never reach the app", async () => {
    const { response, upstream } = await through('/courses/123/grades?term=1', {
      authorization: `Bearer ${await alice()}`,
      'x-user-id': 'forged-admin',
      'x-user-roles': 'admin',
      'x-auth-level': 'root',
    });
    expect(response.status).toBe(200);
    expect(upstream?.['x-user-id']).toBe('alice');
    expect(upstream?.['x-user-roles']).toBe('{"course":{"teacher":["123"]}}');
    expect(upstream?.['x-auth-level']).toBeUndefined();
    expect(upstream?.['x-user-view-as']).toBeUndefined();
    expect(upstream?.authorization).toBeUndefined();
  });

  it('removes forged identity headers on an anonymous route, where tollgate copies none', async () => {
    const { response, upstream } = await through('/public/docs', {
      'x-user-id': 'forged-admin',
      'x-user-roles': 'admin',
      'x-user-view-as': 'teacher',
      'x-user-email': 'admin@example.com',
      'x-auth-level': 'root',
    });
    expect(response.status).toBe(200);
    expect(upstream).toBeDefined();
    // Neither the client's values nor Caddy 2.6's unreplaced placeholders ("{http.reverse_proxy.header.X-User-Id}").
    for (const name of ['x-user-id', 'x-user-roles', 'x-user-view-as', 'x-user-email', 'x-auth-level'])
      expect(upstream?.[name], name).toBeUndefined();
  });

  it("answers tollgate's 401, WWW-Authenticate and JSON body when there is no token, and the app sees nothing", async () => {
    const { response, body, upstream } = await through('/api/things', { 'x-user-id': 'forged-admin' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="tollgate"');
    expect(JSON.parse(body)).toMatchObject({ error: 'unauthenticated' });
    expect(upstream).toBeUndefined();
  });

  it("answers 403 for another course's grades, and the app sees nothing", async () => {
    const { response, body, upstream } = await through('/courses/999/grades', { authorization: `Bearer ${await alice()}` });
    expect(response.status).toBe(403);
    expect(JSON.parse(body)).toMatchObject({ error: 'forbidden', rule: 'grades' });
    expect(upstream).toBeUndefined();
  });

  it('decides on the method Caddy received, not on GET-only rules a POST could claim', async () => {
    // grades allows GET only; a POST falls through to `api` and is allowed as authenticated, so use
    // a token-less POST whose forged X-Forwarded-Method says GET on a public path.
    const { response, upstream } = await through(
      '/admin/users',
      { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/public/docs' },
      'POST',
    );
    expect(response.status).toBe(401);
    expect(upstream).toBeUndefined();
  });

  it.each([
    ...FORGED_REQUEST_LINES,
    ['X-Forwarded-Host naming a host rule', { 'x-forwarded-host': 'internal.example.com' }],
    ['Forwarded', { forwarded: 'host=internal.example.com;proto=https' }],
  ])("decides on the request Caddy received, not on a client's own %s", async (_name, forged) => {
    const { response, upstream } = await through('/admin/users', forged);
    expect(response.status).toBe(401);
    expect(upstream).toBeUndefined();
  });

  it('lets no header the app could believe through from the client: identity, view-as, workload, request line, address', async () => {
    const { response, upstream } = await through('/public/docs', FORGED_BELIEVABLE_HEADERS);
    expect(response.status).toBe(200);
    expect(Object.fromEntries(MUST_NOT_REACH_APP.map((name) => [name, upstream?.[name]]))).toEqual(
      Object.fromEntries(MUST_NOT_REACH_APP.map((name) => [name, undefined])),
    );
    // Caddy's own view of the connection instead of the client's (no trusted_proxies).
    expect(upstream).toMatchObject({ 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http' });
    expect(upstream?.['x-forwarded-host']).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  // Last: it stops tollgate.
  it('answers 502, never the app, when tollgate is down (fail closed)', async () => {
    const valid = await token({ sub: 'alice' });
    expect((await through('/api/things', { authorization: `Bearer ${valid}` })).response.status).toBe(200);
    await tg.app.stop();
    const { response, upstream } = await through('/api/things', { authorization: `Bearer ${valid}` });
    expect(response.status).toBe(502);
    expect(upstream).toBeUndefined();
  });
});
