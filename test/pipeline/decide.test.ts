import { describe, expect, it } from 'vitest';
import { decide } from '../../src/pipeline/decide.js';
import { createRevocationStore, parseRevocationConfig } from '../../src/revocation/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { RedisServer } from '../revocation/redis-server.js';
import { testDeps, waitFor } from '../revocation/helpers.js';
import { CONFIG_YAML, requestView, testConfig, testRuntime, token } from './helpers.js';

describe('decide', () => {
  const { runtime, deps } = testRuntime();

  it('allows an anonymous route without a token, naming the rule', async () => {
    const { outcome, decision } = await decide(runtime, requestView('/healthz'));
    expect(outcome).toMatchObject({ kind: 'allow', ruleId: 'health' });
    expect(decision?.status).toBe('ok');
  });

  it('asks for a token where the rule needs a user', async () => {
    const { outcome } = await decide(runtime, requestView('/courses/1'));
    expect(outcome).toEqual({ kind: 'unauthenticated', reason: 'missing_token', ruleId: 'courses' });
  });

  it('allows a verified token, keeping where it came from', async () => {
    const verified: boolean[] = [];
    const bearer = `Bearer ${await token()}`;
    const { outcome, tokenCached } = await decide(runtime, requestView('/courses/1', { authorization: bearer }), {
      onVerified: (c) => verified.push(c),
    });
    expect(outcome).toMatchObject({
      kind: 'allow',
      ruleId: 'courses',
      location: { kind: 'header', name: 'authorization' },
      refresh: false,
    });
    expect(outcome.kind === 'allow' && outcome.token?.claims.sub).toBe('alice');
    const again = await decide(runtime, requestView('/courses/1', { authorization: bearer }), { onVerified: (c) => verified.push(c) });
    expect(verified).toEqual([false, true]); // the second verification came from the cache
    expect([tokenCached, again.tokenCached]).toEqual([false, true]);
  });

  it('denies a bad token before the policy is consulted', async () => {
    const { outcome, decision } = await decide(runtime, requestView('/healthz', { authorization: 'Bearer not-a-jwt' }));
    expect(outcome).toMatchObject({ kind: 'unauthenticated', reason: 'malformed_token' });
    expect(decision).toBeUndefined();
  });

  it('denies two tokens as ambiguous', async () => {
    const t = await token();
    const view = { ...requestView('/courses/1'), headers: new Map([['authorization', [`Bearer ${t}`, `Bearer ${t}`]]]) };
    expect((await decide(runtime, view)).outcome).toEqual({ kind: 'unauthenticated', reason: 'ambiguous_token' });
  });

  it('gives the policy reason for a forbidden request', async () => {
    const { outcome } = await decide(runtime, requestView('/reports/q1', { authorization: `Bearer ${await token()}` }));
    expect(outcome).toMatchObject({ kind: 'forbidden', reason: 'missing_scope', ruleId: 'reports', provider: 'idp', sub: 'alice' });
    const scoped = await token({ scope: 'reports:read' });
    expect((await decide(runtime, requestView('/reports/q1', { authorization: `Bearer ${scoped}` }))).outcome.kind).toBe('allow');
  });

  it('denies a revoked token as revoked, from a real store', async () => {
    const store = createRevocationStore(parseRevocationConfig({ store: 'memory' }), deps);
    await store.start();
    try {
      await store.revoke({ type: 'jti', value: 'token-1', reason: 'unit test' });
      const view = requestView('/healthz', { authorization: `Bearer ${await token()}` });
      expect((await decide(runtime, view, { revocation: store })).outcome).toMatchObject({
        kind: 'unauthenticated',
        reason: 'revoked',
        sub: 'alice',
      });
      const other = requestView('/healthz', { authorization: `Bearer ${await token({ jti: 'token-2' })}` });
      expect((await decide(runtime, other, { revocation: store })).outcome.kind).toBe('allow');
    } finally {
      await store.stop();
    }
  });

  it('takes preset claims as verified and explains on request', async () => {
    const [provider] = runtime.providers;
    const { outcome, decision } = await decide(runtime, requestView('/reports/q1'), {
      explain: true,
      presetToken: { provider: provider!, claims: { sub: 'bob', scope: 'reports:read' }, keyId: 'preset', payloadBytes: 0 },
    });
    expect(outcome).toMatchObject({ kind: 'allow', ruleId: 'reports' });
    expect(decision?.explanation?.length).toBeGreaterThan(0);
  });

  it('denies as revocation_unavailable once a real Redis store has been unreachable past failClosedAfterSeconds', async () => {
    const redis = await RedisServer.launch();
    const clock = new ManualClock();
    const store = createRevocationStore(
      parseRevocationConfig({ store: 'redis', redis: { url: redis.url, timeoutSeconds: 1 }, failClosedAfterSeconds: 5 }),
      testDeps(clock),
    );
    try {
      await store.start();
      const view = requestView('/healthz', { authorization: `Bearer ${await token()}` });
      expect((await decide(runtime, view, { revocation: store })).outcome.kind).toBe('allow');
      await redis.stop();
      await waitFor('the store to notice the outage', () => !store.status().up);
      clock.advance(6_000);
      expect((await decide(runtime, view, { revocation: store })).outcome).toEqual({
        kind: 'unauthenticated',
        reason: 'revocation_unavailable',
        provider: 'idp',
        sub: 'alice',
      });
    } finally {
      await store.stop();
      await redis.dispose();
    }
  });

  it('takes preset claims instead of any token the request carries, which is neither read nor verified', async () => {
    const [provider] = runtime.providers;
    const view = requestView('/reports/q1', { authorization: 'Bearer not-a-jwt', cookie: 'x=1' });
    const verified: boolean[] = [];
    const { outcome, tokenCached } = await decide(runtime, view, {
      presetToken: { provider: provider!, claims: { sub: 'bob', scope: 'reports:read' }, keyId: 'preset', payloadBytes: 0 },
      onVerified: (cached) => verified.push(cached),
    });
    expect(outcome).toMatchObject({ kind: 'allow', ruleId: 'reports', token: { claims: { sub: 'bob' } } });
    expect(verified).toEqual([]);
    expect(tokenCached).toBe(false); // taken as verified, not from the verified-token cache
  });

  it('shows a header condition the values of a repeated header joined with ","', async () => {
    const { runtime: joined } = testRuntime(
      testConfig(`${CONFIG_YAML}
  - id: tenants
    match: { paths: [/tenants], headers: [{ name: x-tenant, equals: "a,b" }] }
    require: { anonymous: true }
`),
    );
    const view = { ...requestView('/tenants'), headers: new Map([['x-tenant', ['a', 'b']]]) };
    expect((await decide(joined, view)).outcome).toMatchObject({ kind: 'allow', ruleId: 'tenants' });
    expect((await decide(joined, requestView('/tenants', { 'x-tenant': 'ab' }))).outcome.kind).not.toBe('allow');
  });

  it('takes a view-as header sent twice as an ask no allow entry matches, never as the role it repeats', async () => {
    const { runtime: viewing } = testRuntime(
      testConfig(`${CONFIG_YAML}
  - id: course
    match: { paths: ["/course/{id}"] }
    require: { contextRole: { context: course, id: "{id}", anyOf: [student] } }
viewAs:
  allow: { teacher: [student] }
`),
    );
    const bearer = `Bearer ${await token({ roles: { course: { teacher: ['42'] } } })}`;
    const ask = (values: string[]) => ({
      ...requestView('/course/42'),
      headers: new Map([
        ['authorization', [bearer]],
        ['x-tollgate-view-as', values],
      ]),
    });
    expect((await decide(viewing, ask(['student']))).outcome).toMatchObject({ kind: 'allow', ruleId: 'course' });
    expect((await decide(viewing, ask(['student', 'student']))).outcome).toMatchObject({ kind: 'forbidden', ruleId: 'course' });
  });

  it('tells a denial the token came with the DPoP scheme, and only then', async () => {
    const { runtime: dpop } = testRuntime(testConfig(CONFIG_YAML.replace('algorithms: [HS256]', 'algorithms: [HS256]\n    dpop: {}')));
    const outcome = async (authorization: string) => (await decide(dpop, requestView('/courses/1', { authorization }))).outcome;
    // Refused by the verifier, and (a valid token without its proof) by the binding check.
    expect(await outcome('DPoP not-a-jwt')).toMatchObject({ kind: 'unauthenticated', reason: 'malformed_token', dpop: true });
    expect(await outcome(`DPoP ${await token()}`)).toMatchObject({ kind: 'unauthenticated', reason: 'invalid_dpop_proof', dpop: true });
    expect(await outcome('Bearer not-a-jwt')).toEqual({
      kind: 'unauthenticated',
      reason: 'malformed_token',
      provider: undefined,
      dpop: undefined,
    });
  });

  it('denies revoked preset claims, which came from no location, without a DPoP flag', async () => {
    const [provider] = runtime.providers;
    const store = createRevocationStore(parseRevocationConfig({ store: 'memory' }), deps);
    await store.start();
    try {
      await store.revoke({ type: 'sub', value: 'bob', reason: 'unit test' });
      const { outcome } = await decide(runtime, requestView('/reports/q1'), {
        revocation: store,
        presetToken: { provider: provider!, claims: { sub: 'bob', iat: 1, scope: 'reports:read' }, keyId: 'preset', payloadBytes: 0 },
      });
      expect(outcome).toEqual({ kind: 'unauthenticated', reason: 'revoked', provider: 'idp', sub: 'bob', dpop: undefined });
    } finally {
      await store.stop();
    }
  });

  it("shows a when condition every header but the identity and pseudo-headers, a repeated one joined with ','", async () => {
    const { runtime: conditional } = testRuntime(
      testConfig(`${CONFIG_YAML}
  - id: headers
    match: { paths: [/headers] }
    require: { authenticated: true, when: "request.headers['x-tenant'] == 'a,b' && !('x-user-id' in request.headers) && !(':path' in request.headers)" }
`),
    );
    const bearer = `Bearer ${await token()}`;
    const ask = (headers: [string, string[]][]) =>
      decide(conditional, { ...requestView('/headers'), headers: new Map([['authorization', [bearer]], ...headers]) });
    expect((await ask([['x-tenant', ['a', 'b']]])).outcome).toMatchObject({ kind: 'allow', ruleId: 'headers' });
    // x-user-id is an identity header (claimToHeaders): only tollgate sets it, so a condition never sees a client's copy.
    expect(
      (
        await ask([
          ['x-tenant', ['a', 'b']],
          ['x-user-id', ['alice']],
        ])
      ).outcome,
    ).toMatchObject({ kind: 'allow', ruleId: 'headers' });
    expect(
      (
        await ask([
          ['x-tenant', ['a', 'b']],
          [':path', ['/headers']],
        ])
      ).outcome,
    ).toMatchObject({ kind: 'allow', ruleId: 'headers' });
    expect((await ask([['x-tenant', ['a']]])).outcome).toMatchObject({ kind: 'forbidden', ruleId: 'headers' });
  });
});
