/**
 * What a context source is asked, exactly, through the whole pipeline (gRPC Check → policy → cache →
 * a real HTTP domain service):
 * - issue 35, reproduction 2: a subject cannot change the path tollgate asks (`..` and `.` would be dot
 *   segments; no encoding survives fetch's URL parser, so the lookup is refused and the rule denies);
 * - the exact path the service receives for hostile values;
 * - a subject is one user only within its provider: `123` of one IdP never gets the answer for `123`
 *   of another (issue 35);
 * - contexts and ids that would collide if joined with a separator have their own entries (issue 34).
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { startHttpServer, startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { es256Provider, nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const IDP_A = 'https://a.idp.example';
const IDP_B = 'https://b.idp.example';

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

let keyA: TestKey;
let keyB: TestKey;
let jwksA: TestHttpServer;
let jwksB: TestHttpServer;
let domain: TestHttpServer;
let tg: RunningTollgate;

/**
 * The domain service. `/courses/{id}/roles` lists the roles course {id} defines (the resource a `..`
 * subject used to reach); a member's roles are under `/courses/{id}/members/{sub}/roles`, where
 * nobody but `teacher-7` of IdP A holds anything. `/ctx/...` answers teacher for context `a:b` id `c`
 * only.
 */
function answer(url: string): string[] {
  if (/^\/courses\/[^/]+\/roles$/.test(url)) return ['teacher', 'ta', 'student'];
  if (url === '/courses/42/members/idp-a/teacher-7/roles') return ['teacher'];
  if (url === '/ctx/a%3Ab/c') return ['teacher'];
  return [];
}

beforeAll(async () => {
  [keyA, keyB] = await Promise.all([testKey('ES256'), testKey('ES256')]);
  jwksA = await startJwksServer(jwks(keyA));
  jwksB = await startJwksServer(jwks(keyB));
  domain = await startHttpServer((req, res) => json(res, { roles: answer(req.url ?? '') }));
  tg = await startTollgate({
    providers: [
      { ...es256Provider(IDP_A, 'api', `${jwksA.url}/jwks`), name: 'idp-a' },
      { ...es256Provider(IDP_B, 'api', `${jwksB.url}/jwks`), name: 'idp-b' },
    ],
    contextSources: [
      { name: 'members', http: { url: `${domain.url}/courses/{id}/members/{provider}/{sub}/roles` } },
      { name: 'plain', http: { url: `${domain.url}/courses/{id}/members/{sub}/roles` } },
      { name: 'contexts', http: { url: `${domain.url}/ctx/{context}/{id}` } },
    ],
    rules: [
      {
        id: 'teach',
        match: { paths: ['/courses/{courseId}/grades'] },
        require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'], fallback: 'members' } },
      },
      {
        id: 'plain',
        match: { paths: ['/plain/{courseId}'] },
        require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'], fallback: 'plain' } },
      },
      {
        id: 'ab',
        match: { paths: ['/ab/{x}'] },
        require: { contextRole: { context: 'a:b', id: '{x}', anyOf: ['teacher'], fallback: 'contexts' } },
      },
      {
        id: 'a',
        match: { paths: ['/a/{x}'] },
        require: { contextRole: { context: 'a', id: '{x}', anyOf: ['teacher'], fallback: 'contexts' } },
      },
    ],
  });
});
afterAll(async () => {
  await tg?.close();
  for (const server of [domain, jwksA, jwksB]) await server?.close();
});
beforeEach(() => {
  domain.requests.length = 0;
});

async function check(path: string, sub: string, idp: 'a' | 'b' = 'a') {
  const token = await mint(idp === 'a' ? IDP_A : IDP_B, 'api', {
    key: idp === 'a' ? keyA : keyB,
    claims: { sub },
    now: nowSeconds(tg.clock),
  });
  return tg.client.check(checkRequest({ path, headers: { authorization: `Bearer ${token}` } }));
}

describe('a subject cannot change what the context source is asked', () => {
  it('sub ".." does not reach /courses/42/roles (a teacher there); the lookup is refused and the rule denies', async () => {
    const response = await check('/plain/42', '..');
    expect(deniedBody(response)).toEqual({ error: 'forbidden', reason: 'context_source_unavailable', rule: 'plain' });
    expect(domain.requests).toEqual([]);
  });

  it('sub "." does not reach /courses/42/members/roles either', async () => {
    expect(deniedBody(await check('/plain/42', '.'))).toMatchObject({ reason: 'context_source_unavailable' });
    expect(domain.requests).toEqual([]);
  });

  it.each([
    ['%2e%2e', '%252e%252e'],
    ['a/b', 'a%2Fb'],
    ['..%2F..', '..%252F..'],
    ['who?admin=1', 'who%3Fadmin%3D1'],
    ['me#frag', 'me%23frag'],
    ['élève 日本', '%C3%A9l%C3%A8ve%20%E6%97%A5%E6%9C%AC'],
    ['...', '...'],
  ])('sub %j is asked as exactly one path segment %j', async (sub, segment) => {
    const response = await check('/plain/42', sub);
    expect(deniedBody(response)).toMatchObject({ reason: 'context_role_mismatch' });
    expect(domain.requests).toEqual([`/courses/42/members/${segment}/roles`]);
  });
});

describe('a subject is one user within its provider', () => {
  it("IdP B's subject never gets the roles cached for IdP A's subject of the same name", async () => {
    expect((await check('/courses/42/grades', 'teacher-7', 'a')).status?.code ?? 0).toBe(0);
    const other = await check('/courses/42/grades', 'teacher-7', 'b');
    expect(deniedBody(other)).toMatchObject({ reason: 'context_role_mismatch' });
    expect(domain.requests).toEqual(['/courses/42/members/idp-a/teacher-7/roles', '/courses/42/members/idp-b/teacher-7/roles']);
    // Both answers are cached, each for its own provider.
    expect((await check('/courses/42/grades', 'teacher-7', 'a')).status?.code ?? 0).toBe(0);
    expect(deniedBody(await check('/courses/42/grades', 'teacher-7', 'b'))).toMatchObject({ reason: 'context_role_mismatch' });
    expect(domain.requests).toHaveLength(2);
  });
});

describe('contexts and ids that would collide if joined', () => {
  it('context "a:b" id "c" and context "a" id "b:c" are two questions with two cache entries', async () => {
    expect((await check('/ab/c', 'pat')).status?.code ?? 0).toBe(0);
    expect(deniedBody(await check('/a/b:c', 'pat'))).toMatchObject({ reason: 'context_role_mismatch', rule: 'a' });
    expect(domain.requests).toEqual(['/ctx/a%3Ab/c', '/ctx/a/b%3Ac']);
    // Cached apart: the first is still allowed, the second still denied, with no new call.
    expect((await check('/ab/c', 'pat')).status?.code ?? 0).toBe(0);
    expect(deniedBody(await check('/a/b:c', 'pat'))).toMatchObject({ reason: 'context_role_mismatch' });
    expect(domain.requests).toHaveLength(2);
  });
});
