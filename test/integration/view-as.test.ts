import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, injectedHeaders } from '../helpers/envoy-client.js';
import { startHttpServer, startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { es256Provider, nowSeconds, type RunningTollgate, startTollgate } from '../helpers/tollgate.js';
import { identityFrom, isAuthorized } from '../../src/identity/index.js';

const ISSUER = 'https://idp.example.com';

describe('viewAs: a teacher views the course as a student', () => {
  let key: TestKey;
  let jwksServer: TestHttpServer;
  let domain: TestHttpServer;
  let tg: RunningTollgate;

  const check = async (claims: Record<string, unknown>, headers: Record<string, string> = {}, path = '/courses/42/grades') => {
    const token = await mint(ISSUER, 'api', { key, claims, now: nowSeconds(tg.clock) });
    return tg.client.check(checkRequest({ path, headers: { authorization: `Bearer ${token}`, ...headers } }));
  };
  const teacherOf42 = { roles: { course: { teacher: ['42'], ta: ['7'] } } };

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    // The domain service knows the subject "from-source" as a TA of every course, and no one else.
    domain = await startHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ roles: req.url?.startsWith('/from-source/') ? ['ta'] : [] }));
    });
    tg = await startTollgate({
      providers: [
        {
          ...es256Provider(ISSUER, 'api', `${jwksServer.url}/jwks`),
          claimToHeaders: [
            { header: 'x-user-id', claim: 'sub' },
            { header: 'x-user-roles', claim: 'roles' },
          ],
        },
      ],
      contextSources: [{ name: 'courses', http: { url: `${domain.url}/{sub}/{context}/{id}` } }],
      viewAs: { allow: { teacher: ['student'], ta: ['student'] } },
      rules: [
        {
          id: 'course',
          match: { paths: ['/courses/{courseId}/**'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher', 'ta', 'student'], fallback: 'courses' } },
        },
        { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
      ],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await domain?.close();
    await jwksServer?.close();
  });

  it('decides as the lesser role, says so in the injected headers, and strips the ask', async () => {
    const response = await check(teacherOf42, { 'x-tollgate-view-as': 'student' });
    expect(response.status?.code).toBe(0);
    const injected = injectedHeaders(response);
    expect(injected['x-user-view-as']).toBe('student');
    expect(JSON.parse(injected['x-user-roles'] ?? '')).toEqual({ course: { student: ['42'] } });
    expect(response.ok_response?.headers_to_remove).toContain('x-tollgate-view-as');
  });

  it('never answers one request with the headers of another for the same token (prepared allows)', async () => {
    const token = await mint(ISSUER, 'api', { key, claims: teacherOf42, now: nowSeconds(tg.clock) });
    const send = (headers: Record<string, string>) =>
      tg.client.check(checkRequest({ path: '/courses/42/grades', headers: { authorization: `Bearer ${token}`, ...headers } }));
    for (const ask of [false, true, false, true]) {
      const injected = injectedHeaders(await send(ask ? { 'x-tollgate-view-as': 'student' } : {}));
      expect(injected['x-user-view-as']).toBe(ask ? 'student' : undefined);
      expect(JSON.parse(injected['x-user-roles'] ?? '')).toEqual(ask ? { course: { student: ['42'] } } : teacherOf42.roles);
    }
    // Roles a source granted depend on the course asked about, not only on the token.
    const fromSource = await mint(ISSUER, 'api', { key, claims: { sub: 'from-source' }, now: nowSeconds(tg.clock) });
    for (const course of ['42', '43', '42']) {
      const response = await tg.client.check(
        checkRequest({ path: `/courses/${course}/grades`, headers: { authorization: `Bearer ${fromSource}` } }),
      );
      expect(JSON.parse(injectedHeaders(response)['x-user-roles'] ?? '')).toEqual({ course: { ta: [course] } });
    }
  });

  it('applies to roles a context source answered, too', async () => {
    const response = await check({ sub: 'from-source' }, { 'x-tollgate-view-as': 'student' });
    expect(response.status?.code).toBe(0);
    expect(injectedHeaders(response)['x-user-view-as']).toBe('student');
    expect(JSON.parse(injectedHeaders(response)['x-user-roles'] ?? '')).toEqual({ course: { student: ['42'] } });
  });

  it('without the ask, carries the roles a context source answered in the injected roles header', async () => {
    const response = await check({ sub: 'from-source', roles: { group: { member: ['1'] } } });
    expect(response.status?.code).toBe(0);
    const roles = JSON.parse(injectedHeaders(response)['x-user-roles'] ?? '');
    expect(roles).toEqual({ group: { member: ['1'] }, course: { ta: ['42'] } });
    expect(isAuthorized(identityFrom(injectedHeaders(response)), 'course', 42, 'ta')).toBe(true);
  });

  it.each([
    ['an upgrade (a student asking to be a teacher)', { roles: { course: { student: ['42'] } } }, 'teacher', '/courses/42/grades'],
    ['a role outside allow', teacherOf42, 'admin', '/courses/42/grades'],
    ['a context where the user holds no role', teacherOf42, 'student', '/courses/43/grades'],
    ['a rule without a context role', teacherOf42, 'student', '/profile'],
  ])('refuses %s: 403 view_as_not_allowed', async (_what, claims, role, path) => {
    const response = await check(claims, { 'x-tollgate-view-as': role }, path);
    expect(response.status?.code).toBe(7);
    expect(deniedBody(response)).toMatchObject({ error: 'forbidden', reason: 'view_as_not_allowed' });
  });

  it('without the ask, decides on the real roles and strips a forged x-user-view-as', async () => {
    const response = await check(teacherOf42, { 'x-user-view-as': 'student' });
    expect(response.status?.code).toBe(0);
    expect(injectedHeaders(response)['x-user-view-as']).toBeUndefined();
    expect(response.ok_response?.headers_to_remove).toContain('x-user-view-as');
    expect(JSON.parse(injectedHeaders(response)['x-user-roles'] ?? '')).toEqual(teacherOf42.roles);
  });
});
