import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { startHttpServer, startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { waitFor } from '../helpers/time.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';
import { RedisServer } from '../revocation/redis-server.js';

const ISSUER = 'https://idp.example.com';
const ADMIN_SECRET = 'context-admin-secret-0123456789abcdef';

/**
 * Two replicas on one real Redis, each with its own context-role cache. A permission change made
 * through replica A's admin API must drop what replica B cached about the subject.
 */
describe('context-role invalidation across replicas', () => {
  let redis: RedisServer;
  let jwksServer: TestHttpServer;
  let domain: TestHttpServer;
  let key: TestKey;
  let a: RunningTollgate;
  let b: RunningTollgate;
  /** What the domain service says the subject holds in every course. */
  let roles: string[] = [];

  beforeAll(async () => {
    redis = await RedisServer.launch();
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    domain = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ roles }));
    });
    const config = {
      providers: [{ name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks` } }],
      contextSources: [{ name: 'courses', http: { url: `${domain.url}/{sub}/{context}/{id}`, timeoutMs: 2000 } }],
      rules: [
        {
          id: 'course',
          match: { paths: ['/courses/{courseId}/**'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'], fallback: 'courses' } },
        },
      ],
      revocation: { store: 'redis', redis: { url: redis.url } },
      admin: { tokenFile: 'admin-token' },
    };
    a = await startTollgate(config, { 'admin-token': ADMIN_SECRET });
    b = await startTollgate(config, { 'admin-token': ADMIN_SECRET });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await domain?.close();
    await jwksServer?.close();
    await redis?.dispose();
  });
  beforeEach(() => {
    domain.requests.length = 0;
  });

  const admin = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${a.app.httpPort}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const checkOnB = async (sub: string) => {
    const token = await mint(ISSUER, 'api', { key, claims: { sub }, now: nowSeconds(b.clock) });
    return b.client.check(checkRequest({ path: '/courses/42/grades', headers: { authorization: `Bearer ${token}` } }));
  };

  /** B caches "teacher" for `sub`; the domain then takes the role away, which B does not see by itself. */
  async function cachedTeacherOnB(sub: string): Promise<void> {
    domain.requests.length = 0;
    roles = ['teacher'];
    expect((await checkOnB(sub)).status?.code).toBe(0);
    roles = [];
    expect((await checkOnB(sub)).status?.code).toBe(0); // from B's cache
    expect(domain.requests).toHaveLength(1);
  }

  it('a permission refresh through replica A drops the subject on replica B within a second', async () => {
    await cachedTeacherOnB('carol');
    await cachedTeacherOnB('erin'); // another subject, whose answer must stay cached
    domain.requests.length = 0;
    roles = [];
    const started = performance.now();
    expect((await admin('/admin/v1/subjects/carol/refresh', { reason: 'left the course' })).status).toBe(200);
    let denied = await checkOnB('carol');
    await waitFor('replica B to ask again about carol', async () => (denied = await checkOnB('carol')).status?.code !== 0, {
      timeoutMs: 1000,
      intervalMs: 0,
    });
    console.log(`context-role invalidation A→B through Redis: ${(performance.now() - started).toFixed(1)} ms`);
    expect(deniedBody(denied)).toEqual({ error: 'forbidden', reason: 'context_role_mismatch', rule: 'course' });
    expect(domain.requests.every((path) => path === '/carol/course/42')).toBe(true);
    expect((await checkOnB('erin')).status?.code).toBe(0); // still cached
  });

  it("a revocation of the subject through replica A drops the subject's cached roles on replica B", async () => {
    await cachedTeacherOnB('dave');
    // Revoke tokens issued before a minute ago: dave's current token stays valid, his roles must not.
    const notBefore = new Date(b.clock.now() - 60_000).toISOString();
    expect((await admin('/admin/v1/revocations', { type: 'sub', value: 'dave', notBefore, reason: 'role change' })).status).toBe(201);
    let denied = await checkOnB('dave');
    await waitFor('replica B to ask again about dave', async () => (denied = await checkOnB('dave')).status?.code !== 0, {
      timeoutMs: 1000,
      intervalMs: 0,
    });
    expect(deniedBody(denied)).toEqual({ error: 'forbidden', reason: 'context_role_mismatch', rule: 'course' });
  });
});
