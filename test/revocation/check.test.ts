import { describe, expect, it } from 'vitest';
import { createRevocationStore, parseRevocationConfig, revocationConfigSchema, RevocationInputError } from '../../src/revocation/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { testDeps } from './helpers.js';

const T0 = Date.UTC(2025, 0, 31, 12, 0, 0);

async function memoryStore(clock = new ManualClock(T0), extra: Record<string, unknown> = {}) {
  const deps = testDeps(clock);
  const store = createRevocationStore(parseRevocationConfig({ store: 'memory', defaultTtlSeconds: 3600, ...extra }), deps);
  await store.start();
  return { store, clock, deps };
}

describe('revocation check (memory store)', () => {
  it('denies a revoked jti and sid, nothing else', async () => {
    const { store } = await memoryStore();
    await store.revoke({ type: 'jti', value: 'token-1', reason: 'leaked' });
    await store.revoke({ type: 'sid', value: 'session-1', reason: 'logout' });
    expect(store.check({ jti: 'token-1', sub: 'alice', iat: T0 / 1000 })).toEqual({ revoked: 'jti' });
    expect(store.check({ sid: 'session-1', sub: 'alice', iat: T0 / 1000 })).toEqual({ revoked: 'sid' });
    expect(store.check({ jti: 'token-2', sid: 'session-2', sub: 'alice', iat: T0 / 1000 })).toEqual({
      revoked: null,
      refresh: false,
    });
  });

  it('revokes a subject for tokens issued before notBefore only, the revocation second included', async () => {
    const { store, clock } = await memoryStore();
    const now = T0 / 1000;
    await store.revoke({ type: 'sub', value: 'alice', reason: 'compromised' });
    expect(store.check({ sub: 'alice', iat: now - 60 })).toEqual({ revoked: 'sub' });
    // Same second as the revocation: cannot be proven to come after it.
    expect(store.check({ sub: 'alice', iat: now })).toEqual({ revoked: 'sub' });
    expect(store.check({ sub: 'alice', iat: now + 1 })).toEqual({ revoked: null, refresh: false });
    expect(store.check({ sub: 'alice' })).toEqual({ revoked: 'sub' }); // no iat: cannot prove it is newer
    expect(store.check({ sub: 'bob', iat: now - 60 })).toEqual({ revoked: null, refresh: false });
    clock.advance(500);
    // An explicit cut-off replaces the previous one (last write wins).
    await store.revoke({ type: 'sub', value: 'alice', notBefore: now - 100, reason: 'narrower' });
    expect(store.check({ sub: 'alice', iat: now - 60 })).toEqual({ revoked: null, refresh: false });
    expect(store.check({ sub: 'alice', iat: now - 101 })).toEqual({ revoked: 'sub' });
  });

  it('ignores non-string claim values safely', async () => {
    const { store } = await memoryStore();
    await store.revoke({ type: 'jti', value: '[object Object]', reason: 'x' });
    await store.revoke({ type: 'sub', value: '42', reason: 'x' });
    const odd = [{}, ['a'], 42, null, true, Symbol('x'), () => 'x'];
    for (const value of odd) {
      expect(store.check({ jti: value, sid: value, sub: value, iat: value })).toEqual({ revoked: null, refresh: false });
    }
    expect(store.check({ sub: '42', iat: 'yesterday' })).toEqual({ revoked: 'sub' });
    expect(store.check({})).toEqual({ revoked: null, refresh: false });
  });

  it('asks older tokens of a subject to refresh after markRefresh, without denying them', async () => {
    const { store, clock } = await memoryStore();
    const now = T0 / 1000;
    const marker = await store.markRefresh('alice');
    expect(marker).toMatchObject({ sub: 'alice', at: now + 1 });
    expect(store.check({ sub: 'alice', iat: now - 10 })).toEqual({ revoked: null, refresh: true });
    expect(store.check({ sub: 'alice', iat: now })).toEqual({ revoked: null, refresh: true });
    expect(store.check({ sub: 'alice', iat: now + 1 })).toEqual({ revoked: null, refresh: false });
    expect(store.check({ sub: 'bob', iat: now - 10 })).toEqual({ revoked: null, refresh: false });
    expect(store.listRefreshMarkers()).toEqual([marker]);
    clock.advance(3600 * 1000 + 1000); // past the marker's expiry: every older token has expired anyway
    expect(store.check({ sub: 'alice', iat: now - 10 })).toEqual({ revoked: null, refresh: false });
    expect(store.listRefreshMarkers()).toEqual([]);
  });

  it('expires entries by the injected clock: default TTL, explicit expiresAt, sub cut-off in the future', async () => {
    const { store, clock } = await memoryStore();
    const now = T0 / 1000;
    const jti = await store.revoke({ type: 'jti', value: 'a', reason: 'x' });
    expect(jti).toEqual({ type: 'jti', value: 'a', reason: 'x', createdAt: now, expiresAt: now + 3600 });
    await store.revoke({ type: 'jti', value: 'short', expiresAt: now + 10, reason: 'x' });
    const future = await store.revoke({ type: 'sub', value: 'carol', notBefore: now + 600, reason: 'rotate' });
    expect(future.expiresAt).toBe(now + 600 + 3600); // outlives tokens issued until the cut-off
    clock.advance(11_000);
    expect(store.check({ jti: 'short' })).toEqual({ revoked: null, refresh: false });
    expect(store.check({ jti: 'a' })).toEqual({ revoked: 'jti' });
    expect(
      store
        .list()
        .map((e) => e.value)
        .sort(),
    ).toEqual(['a', 'carol']);
    clock.advance(3600 * 1000);
    expect(store.check({ jti: 'a' })).toEqual({ revoked: null, refresh: false });
    expect(store.check({ sub: 'carol', iat: now + 100 })).toEqual({ revoked: 'sub' });
    expect(store.list().map((e) => e.value)).toEqual(['carol']);
    expect(store.status().entries).toBe(1);
  });

  it('unrevokes, and reports whether something was removed', async () => {
    const { store } = await memoryStore();
    await store.revoke({ type: 'sid', value: 's', reason: 'x' });
    expect(await store.unrevoke('sid', 's')).toBe(true);
    expect(await store.unrevoke('sid', 's')).toBe(false);
    expect(store.check({ sid: 's' })).toEqual({ revoked: null, refresh: false });
  });

  it('refuses malformed revocations with the field named', async () => {
    const { store } = await memoryStore();
    const now = T0 / 1000;
    const cases: Array<[Parameters<typeof store.revoke>[0], string]> = [
      [{ type: 'jti', value: '', reason: 'x' }, 'value'],
      [{ type: 'jti', value: 'x'.repeat(2000), reason: 'x' }, 'value'],
      [{ type: 'jti', value: 'a', notBefore: now, reason: 'x' }, 'notBefore'],
      [{ type: 'sub', value: 'a', sub: 'b', reason: 'x' }, 'sub'],
      [{ type: 'jti', value: 'a', expiresAt: now - 1, reason: 'x' }, 'expiresAt'],
      [{ type: 'jti', value: 'a', expiresAt: Number.NaN, reason: 'x' }, 'expiresAt'],
      [{ type: 'nope' as 'jti', value: 'a', reason: 'x' }, 'type'],
    ];
    for (const [input, field] of cases) {
      const error = await store.revoke(input).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, field).toBeInstanceOf(RevocationInputError);
      expect((error as RevocationInputError).field).toBe(field);
    }
    expect(store.list()).toEqual([]);
  });

  it('exports metrics: entries by type and denials by type', async () => {
    const { store, deps } = await memoryStore();
    await store.revoke({ type: 'jti', value: 'a', reason: 'x' });
    await store.revoke({ type: 'jti', value: 'b', reason: 'x' });
    await store.revoke({ type: 'sub', value: 'alice', reason: 'x' });
    store.check({ jti: 'a' });
    store.check({ jti: 'a' });
    store.check({ sub: 'alice', iat: 1 });
    const text = await deps.registry.metrics();
    expect(text).toContain('tollgate_revocations{type="jti"} 2');
    expect(text).toContain('tollgate_revocations{type="sid"} 0');
    expect(text).toContain('tollgate_revocations{type="sub"} 1');
    expect(text).toContain('tollgate_revoked_denials_total{type="jti"} 2');
    expect(text).toContain('tollgate_revoked_denials_total{type="sub"} 1');
    expect(text).toContain('tollgate_revocation_store_up 1');
    expect(text).toContain('tollgate_revocation_staleness_seconds 0');
    expect(store.status()).toEqual({ up: true, stalenessSeconds: 0, synced: true, ready: true, failingClosed: false, entries: 3 });
  });

  it('a replacement store on the same registry takes the metric names over once started', async () => {
    const { store, deps } = await memoryStore();
    await store.revoke({ type: 'jti', value: 'a', reason: 'x' });
    const next = createRevocationStore(parseRevocationConfig({ store: 'memory' }), deps);
    expect(await deps.registry.metrics()).toContain('tollgate_revocations{type="jti"} 1');
    await next.start();
    expect(await deps.registry.metrics()).toContain('tollgate_revocations{type="jti"} 0');
    await store.stop(); // the replaced store leaves the names to its successor
    expect(await deps.registry.metrics()).toContain('tollgate_revocations{type="jti"} 0');
    await next.stop();
    expect(await deps.registry.metrics()).not.toContain('tollgate_revocations');
  });

  it('holds 100,000 entries compactly with O(1) checks', async () => {
    const { store } = await memoryStore();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100_000; i++) await store.revoke({ type: 'jti', value: `jti-${i}-0123456789abcdef`, reason: 'bulk' });
    const perEntry = (process.memoryUsage().heapUsed - before) / 100_000;
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) store.check({ jti: `jti-${i}-0123456789abcdef`, sub: 'alice', iat: 1 });
    const checkMicros = ((performance.now() - started) * 1000) / 100_000;
    console.log(`100k entries: ~${Math.round(perEntry)} bytes/entry of heap, check() ${checkMicros.toFixed(2)} µs`);
    expect(store.status().entries).toBe(100_000);
    expect(perEntry).toBeLessThan(1000);
  });
});

describe('revocation config', () => {
  it('defaults and cross-field rules', () => {
    expect(revocationConfigSchema.parse({ path: 'data/revocations.log' })).toEqual({
      store: 'file',
      path: 'data/revocations.log',
      maxStalenessSeconds: 30,
    });
    expect(revocationConfigSchema.safeParse({ store: 'file' }).error?.issues[0]).toMatchObject({
      path: ['path'],
      message: 'required when store is file',
    });
    expect(revocationConfigSchema.safeParse({ store: 'redis' }).error?.issues[0]?.path).toEqual(['redis']);
    expect(revocationConfigSchema.safeParse({ store: 'redis', redis: { url: 'http://x' } }).success).toBe(false);
    expect(revocationConfigSchema.safeParse({ store: 'memory', ttl: 5 }).success).toBe(false);
    expect(() => parseRevocationConfig({ store: 'file' })).toThrow('config: revocation.path: required when store is file');
  });
});
