/**
 * nginx's auth_request in front of an app, asking tollgate's /nginx endpoint: a real nginx (Debian's)
 * running examples/nginx/nginx.conf, a real upstream, tollgate on loopback.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORGED_BELIEVABLE_HEADERS, FORGED_REQUEST_LINES, MUST_NOT_REACH_APP } from '../helpers/authz-http.js';
import { startJwksServer, startRecordingApp, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { startNginx, type RunningNginx } from '../helpers/nginx.js';
import { es256Provider, nowSeconds, type RunningTollgate, startTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'api';

describe('nginx auth_request with examples/nginx/nginx.conf', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let app: Awaited<ReturnType<typeof startRecordingApp>>;
  let nginx: RunningNginx;
  let key: TestKey;
  /** The headers of each request the app received. */
  const token = (claims: Record<string, unknown> = {}, ttlSeconds = 300, now = nowSeconds(tg.clock)) =>
    mint(ISSUER, AUDIENCE, { key, claims, now, ttlSeconds });
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${nginx.url}${path}`, { headers });

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
        {
          id: 'grades',
          match: { methods: ['GET'], paths: ['/courses/{courseId}/grades'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'] } },
        },
        { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
      ],
    });
    app = await startRecordingApp();
    nginx = await startNginx({ app: app.port, tollgate: tg.app.authzPort });
  });
  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await tg?.close();
    await jwksServer?.close();
  });

  /** Sends one request and returns what the app saw of it (undefined: the app saw no request). */
  async function through(path: string, headers: Record<string, string>): Promise<{ response: Response; upstream?: IncomingHttpHeaders }> {
    const { result: response, upstream } = await app.reached(async () => {
      const answer = await get(path, headers);
      await answer.arrayBuffer();
      return answer;
    });
    return { response, upstream };
  }

  it("passes a valid token's request with tollgate's identity headers only: the forged ones never reach the app", async () => {
    const { response, upstream } = await through('/courses/123/grades?term=1', {
      authorization: `Bearer ${await token({ sub: 'alice', roles: { course: { teacher: ['123'] } } })}`,
      'x-user-id': 'forged-admin',
      'x-user-roles': 'admin',
      'x-auth-level': 'root',
    });
    expect(response.status).toBe(200);
    expect(upstream?.['x-user-id']).toBe('alice');
    expect(upstream?.['x-user-roles']).toBe('{"course":{"teacher":["123"]}}');
    expect(upstream?.['x-auth-level']).toBeUndefined();
    expect(upstream?.authorization).toBeUndefined();
    expect(response.headers.get('tollgate-token-refresh')).toBeNull();
  });

  it('removes a forged identity header on an anonymous route, where tollgate sets none', async () => {
    const { response, upstream } = await through('/public/docs', { 'x-user-id': 'forged-admin', 'x-user-roles': 'admin' });
    expect(response.status).toBe(200);
    expect(upstream).toBeDefined();
    expect(upstream?.['x-user-id']).toBeUndefined();
    expect(upstream?.['x-user-roles']).toBeUndefined();
  });

  it("answers 401 with tollgate's WWW-Authenticate when there is no token, and the app sees nothing", async () => {
    const { response, upstream } = await through('/api/things', { 'x-user-id': 'forged-admin' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="tollgate"');
    expect(upstream).toBeUndefined();
  });

  it('answers 401 with error="invalid_token" for an expired token', async () => {
    const expired = await token({}, 60, nowSeconds(tg.clock) - 3600);
    const { response, upstream } = await through('/api/things', { authorization: `Bearer ${expired}` });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="tollgate", error="invalid_token", error_description="token expired"',
    );
    expect(upstream).toBeUndefined();
  });

  it("answers 403 for another course's grades, and the app sees nothing", async () => {
    const { response, upstream } = await through('/courses/999/grades', {
      authorization: `Bearer ${await token({ sub: 'alice', roles: { course: { teacher: ['123'] } } })}`,
    });
    expect(response.status).toBe(403);
    expect(upstream).toBeUndefined();
  });

  it('decides on the path nginx received, query included, not on one a client names in X-Original-URI', async () => {
    const { response, upstream } = await through('/courses/999/grades', {
      authorization: `Bearer ${await token({ sub: 'alice', roles: { course: { teacher: ['123'] } } })}`,
      'x-original-uri': '/courses/123/grades',
      'x-original-method': 'GET',
    });
    expect(response.status).toBe(403);
    expect(upstream).toBeUndefined();
  });

  // Issue 29: a client's own description of the request line never changes the decision.
  it.each(FORGED_REQUEST_LINES)(
    "decides on the request nginx received, not on a client's own %s naming a public path",
    async (_name, forged) => {
      const { response, upstream } = await through('/admin/users', forged);
      expect(response.status).toBe(401);
      expect(upstream).toBeUndefined();
    },
  );

  it('lets no header the app could believe through from the client: identity, view-as, workload, request line, address', async () => {
    const { response, upstream } = await through('/public/docs', FORGED_BELIEVABLE_HEADERS);
    expect(response.status).toBe(200);
    expect(Object.fromEntries(MUST_NOT_REACH_APP.map((name) => [name, upstream?.[name]]))).toEqual(
      Object.fromEntries(MUST_NOT_REACH_APP.map((name) => [name, undefined])),
    );
    // nginx's own view of the connection instead of the client's.
    expect(upstream).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      'x-real-ip': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': '127.0.0.1',
    });
  });

  // Last: it stops tollgate.
  it('answers 500, never the app, when tollgate is down (fail closed)', async () => {
    const valid = await token({ sub: 'alice' });
    expect((await through('/api/things', { authorization: `Bearer ${valid}` })).response.status).toBe(200);
    await tg.app.stop();
    const { response, upstream } = await through('/api/things', { authorization: `Bearer ${valid}` });
    expect(response.status).toBe(500);
    expect(upstream).toBeUndefined();
  });
});
