import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResponse } from '../../src/envoy/types.js';
import { identityFrom, isAuthenticated, isAuthorized } from '../../src/identity/index.js';
import { checkRequest } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { es256Provider, nowSeconds, type RunningTollgate, startTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';

/** The headers the upstream receives once Envoy has applied tollgate's answer. */
function upstreamHeaders(sent: Record<string, string>, response: CheckResponse): Record<string, string> {
  expect(response.status?.code).toBe(0);
  const out = { ...sent };
  for (const name of response.ok_response?.headers_to_remove ?? []) delete out[name];
  for (const h of response.ok_response?.headers ?? []) if (h.header?.key) out[h.header.key] = h.header.value ?? '';
  return out;
}

describe('tollgate/identity against what a real tollgate injects', () => {
  let key: TestKey;
  let jwksServer: TestHttpServer;
  let tg: RunningTollgate;

  const through = async (claims: Record<string, unknown> | null, headers: Record<string, string>, path = '/courses/42/grades') => {
    const sent = { ...headers };
    if (claims) sent.authorization = `Bearer ${await mint(ISSUER, 'api', { key, claims, now: nowSeconds(tg.clock) })}`;
    return upstreamHeaders(sent, await tg.client.check(checkRequest({ path, headers: sent })));
  };

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
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
      viewAs: { allow: { teacher: ['student'] } },
      rules: [
        { id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } },
        {
          id: 'course',
          match: { paths: ['/courses/{courseId}/**'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher', 'student'] } },
        },
        { id: 'admin', match: { paths: ['/admin/**'] }, require: { roles: { anyOf: ['admin'] } } },
        { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
      ],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
  });

  it('reads subject and context roles (integer ids included) and answers isAuthorized like the policy', async () => {
    const identity = identityFrom(await through({ sub: 'ada', roles: { course: { teacher: [42, '7'], ta: ['9'] } } }, {}));
    expect(identity).toEqual({ subject: 'ada', roles: [], contextRoles: { course: { teacher: ['42', '7'], ta: ['9'] } }, viewAs: null });
    expect(isAuthenticated(identity)).toBe(true);
    expect(isAuthorized(identity, 'course', 42, 'teacher')).toBe(true);
    expect(isAuthorized(identity, 'course', '9', 'ta')).toBe(true);
    expect(isAuthorized(identity, 'course', '43', 'teacher')).toBe(false);
    expect(isAuthorized(identity, 'group', '42', 'teacher')).toBe(false);
    expect(isAuthorized(identity, 'course', '42', 'toString')).toBe(false);
  });

  it('reads flat roles, and a Fetch Headers object the same way', async () => {
    const headers = await through({ sub: 'bo', roles: ['admin', 'editor'] }, {}, '/profile');
    expect(identityFrom(headers)).toMatchObject({ subject: 'bo', roles: ['admin', 'editor'] });
    expect(identityFrom(new Headers(headers))).toMatchObject({ subject: 'bo', roles: ['admin', 'editor'] });
  });

  it('sees a view-as downgrade as tollgate decided it', async () => {
    const identity = identityFrom(
      await through({ sub: 'ada', roles: { course: { teacher: ['42'] } } }, { 'x-tollgate-view-as': 'student' }),
    );
    expect(identity.viewAs).toBe('student');
    expect(isAuthorized(identity, 'course', '42', 'student')).toBe(true);
    expect(isAuthorized(identity, 'course', '42', 'teacher')).toBe(false);
  });

  it('never sees forged identity headers: tollgate strips them on an open route', async () => {
    const identity = identityFrom(
      await through(null, { 'x-user-id': 'root', 'x-user-roles': '{"course":{"teacher":["42"]}}', 'x-user-view-as': 'x' }, '/public/x'),
    );
    expect(identity).toEqual({ subject: null, roles: [], contextRoles: {}, viewAs: null });
    expect(isAuthorized(identity, 'course', '42', 'teacher')).toBe(false);
  });

  // Issue 35, reproduction 3: the roles header must never say more than the token (and the policy) did.
  it('a flat role containing the separator is not injected as two roles', async () => {
    const token = { sub: 'eve', roles: ['user,admin'] };
    const admin = await tg.client.check(
      checkRequest({
        path: '/admin/delete',
        headers: { authorization: `Bearer ${await mint(ISSUER, 'api', { key, claims: token, now: nowSeconds(tg.clock) })}` },
      }),
    );
    expect(admin.status?.code).toBe(7);
    const headers = await through(token, { 'x-user-roles': 'admin' }, '/profile');
    expect(headers['x-user-roles']).toBeUndefined();
    expect(identityFrom(headers)).toEqual({ subject: 'eve', roles: [], contextRoles: {}, viewAs: null });
    expect(tg.logs.some((l) => l.header === 'x-user-roles' && l.claim === 'roles' && l.level === 40)).toBe(true);
  });

  it('a string roles claim that looks like JSON is not read as context roles', async () => {
    const headers = await through({ sub: 'eve', roles: '{"course":{"teacher":["999"]}}' }, {}, '/profile');
    expect(headers['x-user-roles']).toBeUndefined();
    expect(isAuthorized(identityFrom(headers), 'course', '999', 'teacher')).toBe(false);
  });

  it('the example middleware (examples/identity) allows, refuses and answers 401 on those headers', async () => {
    // The example imports the package's own `tollgate/identity` export (dist/, built by `npm test`).
    const example = new URL('../../examples/identity/server.mjs', import.meta.url).href;
    const { createApp } = (await import(example)) as { createApp: () => import('node:http').Server };
    const app = createApp();
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const url = (path: string) => `http://127.0.0.1:${(app.address() as AddressInfo).port}${path}`;
    try {
      const teacher = await through({ sub: 'ada', roles: { course: { teacher: ['42'] } } }, {});
      const ok = await fetch(url('/courses/42/grades'), { headers: teacher });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ subject: 'ada', viewAs: null });
      expect((await fetch(url('/courses/43/grades'), { headers: teacher })).status).toBe(403);
      expect(
        (await fetch(url('/courses/42/grades'), { headers: await through(null, { 'x-user-id': 'forged' }, '/public/x') })).status,
      ).toBe(401);
    } finally {
      await new Promise((resolve) => app.close(resolve));
    }
  });
});
