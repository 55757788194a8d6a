import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, injectedHeaders } from '../helpers/envoy-client.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';
import {
  INTROSPECTOR,
  json,
  startAuthorizationServer,
  startIntrospectionEndpoint,
  type AuthorizationServer,
  type IntrospectionEndpoint,
} from './helpers.js';

const RULES = [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }];
const bearer = (token: string) => checkRequest({ headers: { authorization: `Bearer ${token}`, 'x-user-id': 'forged' } });
const metricsOf = async (tg: RunningTollgate) => (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();

describe('introspection against oidc-provider (client credentials, opaque access tokens)', () => {
  let as: AuthorizationServer;
  let tg: RunningTollgate;

  beforeAll(async () => {
    as = await startAuthorizationServer();
  });
  afterAll(async () => {
    await as.close();
  });
  afterEach(async () => {
    await tg.close();
  });

  const start = (secret: string, authMethod = 'client_secret_basic') =>
    startTollgate(
      {
        providers: [
          {
            name: 'as',
            issuer: as.issuer,
            audiences: ['api'],
            introspection: { url: as.introspectionUrl, clientId: INTROSPECTOR.id, clientSecret: { file: 'secret' }, authMethod },
            claimToHeaders: [{ header: 'x-client-id', claim: 'client_id' }],
          },
        ],
        rules: RULES,
      },
      { secret },
    );

  it.each(['client_secret_basic', 'client_secret_post'])(
    'allows an active token (%s), injects its claims and keeps the cached answer for cacheSeconds',
    async (method) => {
      tg = await start(INTROSPECTOR.secret, method);
      const token = await as.issueToken();
      const allowed = await tg.client.check(bearer(token));
      expect(allowed.status?.code).toBe(0);
      expect(injectedHeaders(allowed)).toMatchObject({ 'x-client-id': 'caller' });
      expect(allowed.ok_response?.headers_to_remove).toEqual(expect.arrayContaining(['authorization', 'x-user-id']));

      // Revoked at the server: the cached answer stands until cacheSeconds (60) pass, then the server's word counts.
      await as.revoke(token);
      expect((await tg.client.check(bearer(token))).status?.code).toBe(0);
      tg.clock.advance(61_000);
      const refused = await tg.client.check(bearer(token));
      expect(deniedBody(refused)).toEqual({ error: 'unauthenticated', reason: 'inactive_token' });
      expect(tg.logText()).not.toContain(token);
      expect(tg.logText()).not.toContain(INTROSPECTOR.secret);
    },
  );

  it('denies with introspection_failed when the server refuses tollgate as a client', async () => {
    tg = await start('not-the-secret');
    const refused = await tg.client.check(bearer(await as.issueToken()));
    expect(refused.status?.code).toBe(16);
    expect(deniedBody(refused)).toEqual({ error: 'unauthenticated', reason: 'introspection_failed' });
    expect(await metricsOf(tg)).toMatch(/tollgate_introspection_requests_total\{provider="as",result="invalid_client"\} 1/);
    expect(tg.logs.find((l) => l.msg === 'introspection: call failed; its Checks are denied')).toMatchObject({
      cause: 'invalid_client',
      provider: 'as',
    });
  });
});

describe('introspection failures and limits (the suite’s own RFC 7662 endpoint)', () => {
  let endpoint: IntrospectionEndpoint;
  let tg: RunningTollgate;
  const ISSUER = 'https://as.example';

  beforeAll(async () => {
    endpoint = await startIntrospectionEndpoint();
    tg = await startTollgate(
      {
        providers: [
          {
            name: 'as',
            issuer: ISSUER,
            audiences: ['api'],
            clockSkewSeconds: 0,
            introspection: { url: endpoint.url, clientId: 'tollgate', clientSecret: { file: 'secret' }, timeoutMs: 1000, cacheSeconds: 60 },
          },
        ],
        rules: RULES,
      },
      { secret: 's3cret' },
    );
  });
  afterAll(async () => {
    await tg.close();
    await endpoint.close();
  });
  afterEach(() => {
    endpoint.requests.length = 0;
  });

  const now = () => Math.floor(tg.clock.now() / 1000);
  let n = 0;
  /** A token never seen before: the cache cannot answer for it. */
  const fresh = () => `opaque-token-${++n}-${'x'.repeat(20)}`;
  const active = (claims: Record<string, unknown> = {}) =>
    endpoint.answer((_req, res) => json(res, 200, { active: true, sub: 'u1', iss: ISSUER, aud: 'api', exp: now() + 300, ...claims }));
  const reasonFor = async (token: string) => {
    const response = await tg.client.check(bearer(token));
    return response.status?.code === 0 ? 'allowed' : deniedBody(response).reason;
  };

  it.each([
    [
      'a timeout',
      (res: Parameters<Parameters<IntrospectionEndpoint['answer']>[0]>[1]) => setTimeout(() => json(res, 200, { active: true }), 2000),
      'introspection_failed',
    ],
    [
      'a non-2xx answer',
      (res: Parameters<Parameters<IntrospectionEndpoint['answer']>[0]>[1]) => json(res, 503, { active: true }),
      'introspection_failed',
    ],
    [
      'a body that is not JSON',
      (res: Parameters<Parameters<IntrospectionEndpoint['answer']>[0]>[1]) => res.writeHead(200).end('{"active": tru'),
      'introspection_failed',
    ],
    [
      'JSON without a boolean active',
      (res: Parameters<Parameters<IntrospectionEndpoint['answer']>[0]>[1]) => json(res, 200, { active: 'true' }),
      'introspection_failed',
    ],
    [
      'invalid_client',
      (res: Parameters<Parameters<IntrospectionEndpoint['answer']>[0]>[1]) => json(res, 400, { error: 'invalid_client' }),
      'introspection_failed',
    ],
  ])('%s denies (fail closed) and is never cached', async (_name, misbehave, reason) => {
    const token = fresh();
    endpoint.answer((_req, res) => misbehave(res));
    expect(await reasonFor(token)).toBe(reason);
    // The endpoint recovers: the next Check asks again and is allowed.
    active();
    expect(await reasonFor(token)).toBe('allowed');
    expect(endpoint.requests).toHaveLength(2);
  });

  it.each([
    ['active: false', { active: false }, 'inactive_token'],
    ['an exp in the past', { exp: 1000 }, 'expired'],
    ['another iss', { iss: 'https://evil.example' }, 'unknown_issuer'],
    ['an aud not accepted', { aud: ['other'] }, 'invalid_audience'],
    ['no exp', { exp: undefined }, 'invalid_claims'],
    ['an nbf in the future', { nbf: 9_999_999_999 }, 'not_yet_valid'],
  ])('an answer with %s is denied', async (_name, claims, reason) => {
    active(claims);
    expect(await reasonFor(fresh())).toBe(reason);
  });

  it('accepts an answer without aud (optional in RFC 7662) and authenticates by HTTP Basic', async () => {
    active({ aud: undefined });
    expect(await reasonFor(fresh())).toBe('allowed');
    expect(endpoint.requests[0]!.authorization).toBe(`Basic ${Buffer.from('tollgate:s3cret').toString('base64')}`);
    expect(endpoint.requests[0]!.form.get('token_type_hint')).toBe('access_token');
  });

  it('counts a token first asked of the endpoint as a token-cache miss, and its cached answer as a hit', async () => {
    const count = async (result: string) =>
      Number(new RegExp(`^tollgate_token_cache_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(await metricsOf(tg))?.[1] ?? 0);
    const token = fresh();
    active();
    const [misses, hits] = [await count('miss'), await count('hit')];
    expect(await reasonFor(token)).toBe('allowed');
    expect([await count('miss'), await count('hit')]).toEqual([misses + 1, hits]);
    expect(await reasonFor(token)).toBe('allowed');
    expect([await count('miss'), await count('hit')]).toEqual([misses + 1, hits + 1]);
  });

  it('keeps active: false for negativeCacheSeconds (5) only', async () => {
    const token = fresh();
    endpoint.answer((_req, res) => json(res, 200, { active: false }));
    expect(await reasonFor(token)).toBe('inactive_token');
    expect(await reasonFor(token)).toBe('inactive_token');
    expect(endpoint.requests).toHaveLength(1);
    tg.clock.advance(5_001);
    active();
    expect(await reasonFor(token)).toBe('allowed');
    expect(endpoint.requests).toHaveLength(2);
  });

  it("never keeps an answer past the token's exp, however long cacheSeconds is", async () => {
    const token = fresh();
    const exp = now() + 10;
    active({ exp });
    expect(await reasonFor(token)).toBe('allowed');
    tg.clock.advance(9_000);
    expect(await reasonFor(token)).toBe('allowed');
    expect(endpoint.requests).toHaveLength(1);
    tg.clock.advance(1_000);
    // The cached answer ended at exp: the endpoint is asked again (and its exp has passed).
    expect(await reasonFor(token)).toBe('expired');
    expect(endpoint.requests).toHaveLength(2);
  });

  it('makes exactly one call for 1,000 concurrent Checks with one new token, and counts it', async () => {
    const token = fresh();
    const before = await metricsOf(tg);
    // The answer waits until every Check has been sent, so all of them miss the cache together.
    endpoint.answer((_req, res) =>
      setTimeout(() => json(res, 200, { active: true, sub: 'u1', iss: ISSUER, aud: 'api', exp: now() + 300 }), 300),
    );
    const answers = await Promise.all(Array.from({ length: 1000 }, () => tg.client.check(bearer(token))));
    expect(new Set(answers.map((a) => (a.status?.code === 0 ? 'allowed' : deniedBody(a).reason)))).toEqual(new Set(['allowed']));
    expect(endpoint.requests).toHaveLength(1);
    expect(endpoint.requests[0]!.form.get('token')).toBe(token);
    const after = await metricsOf(tg);
    const count = (text: string, pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
    const misses = /tollgate_introspection_cache_misses_total\{provider="as"\} (\d+)/;
    expect(count(after, misses) - count(before, misses)).toBe(1);
    expect(after).toMatch(/tollgate_introspection_request_duration_seconds_count\{provider="as"\} \d+/);
    expect(after).toMatch(/tollgate_introspection_cache_hits_total\{provider="as"\} \d+/);
    expect(tg.logText()).not.toContain(token);
  });

  it('does not make /readyz depend on the endpoint', async () => {
    endpoint.answer((_req, res) => json(res, 500, {}));
    const readyz = await fetch(`http://127.0.0.1:${tg.app.httpPort}/readyz`);
    expect(readyz.status).toBe(200);
    expect(endpoint.requests).toHaveLength(0);
  });
});
