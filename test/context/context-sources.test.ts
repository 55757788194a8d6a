import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { startHttpServer, startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { waitFor } from '../helpers/time.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';

/** A counter's value for one source, read from the registry the server exposes on /metrics. */
export async function metric(tg: RunningTollgate, name: string, source = 'courses'): Promise<number> {
  const values = (await tg.app.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v) => v.labels.source === source && !('le' in v.labels)).reduce((sum, v) => sum + v.value, 0);
}

/**
 * The domain service, a real HTTP server: its answer per request is whatever `respond` does now.
 * `held` keeps responses back until the test releases them.
 */
class DomainService {
  server!: TestHttpServer;
  respond: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => json(res, { roles: [] });

  async start(): Promise<void> {
    this.server = await startHttpServer((req, res) => this.respond(req, res));
  }
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('context sources: roles from a domain service when the token lacks the context', () => {
  let key: TestKey;
  let jwksServer: TestHttpServer;
  const domain = new DomainService();
  let tg: RunningTollgate;

  const check = async (claims: Record<string, unknown>, path = '/courses/42/grades') => {
    const token = await mint(ISSUER, 'api', { key, claims, now: nowSeconds(tg.clock) });
    return tg.client.check(checkRequest({ path, headers: { authorization: `Bearer ${token}` } }));
  };

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    await domain.start();
    tg = await startTollgate({
      providers: [{ name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks` } }],
      contextSources: [
        {
          name: 'courses',
          http: { url: `${domain.server.url}/subjects/{sub}/{context}/{id}/roles`, timeoutMs: 200 },
          cacheSeconds: 60,
          negativeCacheSeconds: 10,
        },
        // For the crowd: 1,000 checks reach the cache over a loaded machine before the call is answered.
        { name: 'patient', http: { url: `${domain.server.url}/patient/{sub}/{id}`, timeoutMs: 10_000 } },
      ],
      rules: [
        {
          id: 'crowd',
          match: { paths: ['/crowd/{courseId}/**'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'], fallback: 'patient' } },
        },
        {
          id: 'course',
          match: { paths: ['/courses/{courseId}/**'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher', 'ta'], fallback: 'courses' } },
        },
      ],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await domain.server?.close();
    await jwksServer?.close();
  });
  // Each test asks about its own subjects, so answers cached by one never reach another.
  beforeEach(() => {
    domain.server.requests.length = 0;
  });

  it('asks the source for a token without the course, with each part percent-encoded, and allows on its roles', async () => {
    domain.respond = (_req, res) => json(res, { roles: ['ta'] });
    const response = await check({ sub: 'user/7?x#y', roles: { org: { admin: ['1'] } } });
    expect(response.status?.code).toBe(0);
    expect(domain.server.requests).toEqual(['/subjects/user%2F7%3Fx%23y/course/42/roles']);
  });

  it('does not ask when the token lists the course: other roles there deny, a listed one allows', async () => {
    domain.respond = (_req, res) => json(res, { roles: ['teacher'] });
    const denied = await check({ sub: 'u1', roles: { course: { student: ['42'] } } });
    expect(deniedBody(denied)).toEqual({ error: 'forbidden', reason: 'context_role_mismatch', rule: 'course' });
    const allowed = await check({ sub: 'u1', roles: { course: { teacher: [42] } } });
    expect(allowed.status?.code).toBe(0);
    expect(domain.server.requests).toEqual([]);
  });

  it('asks per object: a token listing only other courses gets the source asked about this one', async () => {
    domain.respond = (_req, res) => json(res, { roles: ['teacher'] });
    const recent = { sub: 'recent', roles: { course: { teacher: ['123'] } } };
    expect((await check(recent)).status?.code).toBe(0);
    expect(domain.server.requests).toEqual(['/subjects/recent/course/42/roles']);
    expect(tg.logs.filter((l) => l.msg === 'context source asked').at(-1)).toMatchObject({
      source: 'courses',
      context: 'course',
      id: '42',
      cached: false,
      answered: true,
    });
    // Course 123 is in the token: decided by it, the source not asked again.
    expect((await check(recent, '/courses/123/grades')).status?.code).toBe(0);
    expect(domain.server.requests).toHaveLength(1);
  });

  it('answers the second check from the cache, and counts lookups, hits and misses', async () => {
    domain.respond = (_req, res) => json(res, { roles: ['teacher'] });
    const before = {
      lookups: await metric(tg, 'tollgate_context_lookups_total'),
      hits: await metric(tg, 'tollgate_context_cache_hits_total'),
      misses: await metric(tg, 'tollgate_context_cache_misses_total'),
    };
    expect((await check({ sub: 'cached' })).status?.code).toBe(0);
    expect((await check({ sub: 'cached' })).status?.code).toBe(0);
    expect(domain.server.requests).toHaveLength(1);
    expect(await metric(tg, 'tollgate_context_lookups_total')).toBe(before.lookups + 2);
    expect(await metric(tg, 'tollgate_context_cache_hits_total')).toBe(before.hits + 1);
    expect(await metric(tg, 'tollgate_context_cache_misses_total')).toBe(before.misses + 1);
    // One upstream call timed: the latency histogram's count follows the misses.
    const latency = (await tg.app.registry.getSingleMetric('tollgate_context_request_duration_seconds')?.get())?.values ?? [];
    const timed = latency.find(
      (v) =>
        (v as { metricName?: string }).metricName === 'tollgate_context_request_duration_seconds_count' && v.labels.source === 'courses',
    );
    expect(timed?.value).toBe(await metric(tg, 'tollgate_context_cache_misses_total'));
    // Another course is another question.
    expect((await check({ sub: 'cached' }, '/courses/43/grades')).status?.code).toBe(0);
    expect(domain.server.requests).toHaveLength(2);
  });

  it('keeps an answer without roles for negativeCacheSeconds, then asks again', async () => {
    domain.respond = (_req, res) => json(res, { roles: [] });
    expect(deniedBody(await check({ sub: 'nobody' }))).toMatchObject({ reason: 'context_role_mismatch' });
    expect(deniedBody(await check({ sub: 'nobody' }))).toMatchObject({ reason: 'context_role_mismatch' });
    expect(domain.server.requests).toHaveLength(1);
    tg.clock.advance(10_001);
    domain.respond = (_req, res) => json(res, { roles: ['ta'] });
    expect((await check({ sub: 'nobody' })).status?.code).toBe(0);
    expect(domain.server.requests).toHaveLength(2);
  });

  it('makes exactly one upstream call for 1,000 concurrent checks of one uncached key', async () => {
    const release: Array<() => void> = [];
    domain.respond = (_req, res) => release.push(() => json(res, { roles: ['teacher'] }));
    const token = await mint(ISSUER, 'api', { key, claims: { sub: 'crowd' }, now: nowSeconds(tg.clock) });
    const lookups = await metric(tg, 'tollgate_context_lookups_total', 'patient');
    const checks = Array.from({ length: 1000 }, () =>
      tg.client.check(checkRequest({ path: '/crowd/42/grades', headers: { authorization: `Bearer ${token}` } })),
    );
    // Every check has reached the cache before the one call is answered.
    await waitFor('1,000 look-ups', async () => (await metric(tg, 'tollgate_context_lookups_total', 'patient')) - lookups >= 1000, {
      timeoutMs: 9_000,
    });
    expect(domain.server.requests).toHaveLength(1);
    for (const answer of release) answer();
    const responses = await Promise.all(checks);
    expect(responses.every((r) => r.status?.code === 0)).toBe(true);
    expect(domain.server.requests).toHaveLength(1);
  });

  it.each([
    [
      'a timeout',
      (_req: IncomingMessage, res: ServerResponse) => void setTimeout(() => json(res, { roles: ['teacher'] }), 1000),
      'timed out',
    ],
    ['a non-2xx answer', (_req: IncomingMessage, res: ServerResponse) => json(res, { roles: ['teacher'] }, 503), 'HTTP 503'],
    ['bad JSON', (_req: IncomingMessage, res: ServerResponse) => res.end('{"roles": ['), 'the answer is not {"roles": [...]}'],
    [
      'a JSON answer of the wrong shape',
      (_req: IncomingMessage, res: ServerResponse) => json(res, { roles: 'teacher' }),
      'the answer is not {"roles": [...]}',
    ],
  ])(
    'fails closed on %s: 403 context_source_unavailable, not cached, /readyz unaffected, the cause logged',
    async (what, respond, cause) => {
      const sub = `unlucky ${what}`;
      domain.respond = respond;
      const failures = await metric(tg, 'tollgate_context_failures_total');
      const response = await check({ sub });
      expect(response.status?.code).toBe(7);
      expect(deniedBody(response)).toEqual({ error: 'forbidden', reason: 'context_source_unavailable', rule: 'course' });
      expect(await metric(tg, 'tollgate_context_failures_total')).toBe(failures + 1);
      const logged = tg.logs.filter((line) => line.source === 'courses' && String(line.msg).startsWith('context source failed'));
      expect(logged.at(-1)?.msg).toBe(`context source failed (${cause}); checks that need it are denied context_source_unavailable`);
      // The subject is in the URL the source was asked at: neither appears in the line.
      expect(JSON.stringify(logged.at(-1))).not.toContain('unlucky');
      const ready = await fetch(`http://127.0.0.1:${tg.app.httpPort}/readyz`);
      expect(ready.status).toBe(200);
      domain.respond = (_req, res) => json(res, { roles: ['teacher'] });
      expect((await check({ sub })).status?.code).toBe(0);
      expect(domain.server.requests).toHaveLength(2);
    },
  );
});
