import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createRevocationStore,
  parseRevocationConfig,
  RevocationStoreUnavailableError,
  type RevocationConfigInput,
  type RevocationStore,
} from '../../src/revocation/index.js';
import { ManualClock, type Clock } from '../../src/util/clock.js';
import { freePort, RedisServer } from './redis-server.js';
import { testDeps, waitFor } from './helpers.js';
import { TcpProxy } from './tcp-proxy.js';

const open: RevocationStore[] = [];
let prefixCounter = 0;

afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.stop()));
});

async function replica(
  url: string,
  extra: Partial<RevocationConfigInput> & { keyPrefix?: string; timeoutSeconds?: number } = {},
  clock?: Clock,
): Promise<{ store: RevocationStore; deps: ReturnType<typeof testDeps> }> {
  const { keyPrefix, timeoutSeconds = 1, ...rest } = extra;
  const deps = testDeps(clock);
  const store = createRevocationStore(
    parseRevocationConfig({
      store: 'redis',
      redis: { url, keyPrefix: keyPrefix ?? 'tollgate:', timeoutSeconds },
      defaultTtlSeconds: 3600,
      ...rest,
    }),
    deps,
  );
  open.push(store);
  await store.start();
  return { store, deps };
}

const denied = (store: RevocationStore, jti: string) => store.check({ jti }).revoked === 'jti';
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

describe('redis revocation store: replicas on one Redis', () => {
  let redis: RedisServer;
  let prefix: string;
  beforeAll(async () => {
    redis = await RedisServer.launch();
  });
  afterAll(async () => {
    await redis?.dispose();
  });
  const fresh = () => (prefix = `t${++prefixCounter}:`);

  it('a revocation through replica A denies on replica B; measures propagation', async () => {
    fresh();
    const { store: a } = await replica(redis.url, { keyPrefix: prefix });
    const { store: b } = await replica(redis.url, { keyPrefix: prefix });
    const ack: number[] = [];
    const propagation: number[] = [];
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      await a.revoke({ type: 'jti', value: `p-${i}`, reason: 'propagation' });
      ack.push(performance.now() - started);
      expect(denied(a, `p-${i}`)).toBe(true); // the writer's own mirror has it once revoke() resolved
      await waitFor(`B to deny p-${i}`, () => denied(b, `p-${i}`), { timeoutMs: 2000, intervalMs: 0 });
      propagation.push(performance.now() - started);
    }
    ack.sort((x, y) => x - y);
    propagation.sort((x, y) => x - y);
    const fmt = (values: number[]) =>
      `p50 ${percentile(values, 0.5)?.toFixed(2)} ms, p95 ${percentile(values, 0.95)?.toFixed(2)} ms, max ${values.at(-1)?.toFixed(2)} ms`;
    console.log(`redis revoke acknowledged (durable + own mirror): ${fmt(ack)}`);
    console.log(`redis propagation A.revoke() start → B.check() denies: ${fmt(propagation)}`);

    await a.unrevoke('jti', 'p-0');
    await waitFor('B to forget p-0', () => !denied(b, 'p-0'), { timeoutMs: 2000 });
    const marker = await b.markRefresh('alice');
    const verdict = () => JSON.stringify(a.check({ sub: 'alice', iat: marker.at - 1 }));
    await waitFor('A to see the refresh marker', () => verdict() === JSON.stringify({ revoked: null, refresh: true }));
    expect(a.status()).toMatchObject({ up: true, stalenessSeconds: 0, ready: true, entries: 49 });
  });

  it('stores each entry with a Redis TTL at its expiry', async () => {
    fresh();
    const { store } = await replica(redis.url, { keyPrefix: prefix });
    const entry = await store.revoke({ type: 'sid', value: 'sess:with:colons', reason: 'x' });
    const client = new Redis(redis.url);
    try {
      const key = `${prefix}rev:sid:sess:with:colons`;
      expect(await client.expiretime(key)).toBe(entry.expiresAt);
      expect(JSON.parse((await client.get(key)) ?? 'null')).toEqual({ ...entry, writeId: expect.any(String) });
    } finally {
      client.disconnect();
    }
  });

  it('a replica that starts later loads the full set', async () => {
    fresh();
    const { store: a } = await replica(redis.url, { keyPrefix: prefix });
    for (let i = 0; i < 2500; i++) await a.revoke({ type: 'jti', value: `bulk-${i}`, reason: 'x' });
    await a.revoke({ type: 'sub', value: 'alice', reason: 'x' });
    await a.markRefresh('bob');
    const { store: late } = await replica(redis.url, { keyPrefix: prefix });
    expect(late.status().entries).toBe(2501);
    expect(denied(late, 'bulk-2499')).toBe(true);
    expect(late.check({ sub: 'alice', iat: 1 })).toEqual({ revoked: 'sub' });
    expect(late.check({ sub: 'bob', iat: 1 })).toEqual({ revoked: null, refresh: true });
  });

  it('concurrent conflicting writes from two replicas converge to the last write per key, on every replica', async () => {
    fresh();
    // Redis's own commit order, as every replica sees it: each write is one MULTI that also publishes it.
    const listener = new Redis(redis.url);
    const committed: Array<{ key: string; revoked: boolean }> = [];
    listener.on('message', (_channel: string, message: string) => {
      const { change } = JSON.parse(message) as {
        change: { op: string; type?: string; value?: string; entry?: { type: string; value: string } };
      };
      const target = change.entry ?? change;
      committed.push({ key: `${target.type}:${target.value}`, revoked: change.op === 'revoke' });
    });
    await listener.subscribe(`${prefix}revocations`);
    try {
      const { store: a } = await replica(redis.url, { keyPrefix: prefix });
      const { store: b } = await replica(redis.url, { keyPrefix: prefix });
      const keys = ['k0', 'k1', 'k2'];
      const writes: Array<Promise<unknown>> = [];
      for (let round = 0; round < 60; round++) {
        const key = keys[round % keys.length] ?? 'k0';
        const [first, second] = round % 2 === 0 ? [a, b] : [b, a];
        writes.push(first.revoke({ type: 'jti', value: key, reason: 'race' }), second.unrevoke('jti', key));
      }
      await Promise.all(writes);
      // One last write on two keys, so the end state is known to hold revocations whatever the race did.
      await Promise.all([a.revoke({ type: 'jti', value: 'k0', reason: 'last' }), b.revoke({ type: 'jti', value: 'k1', reason: 'last' })]);

      await waitFor('every write to come back on the channel', () => committed.length === writes.length + 2, { timeoutMs: 3000 });
      const last = new Map(committed.map(({ key, revoked }) => [key, revoked]));
      const expected = [...last]
        .filter(([, revoked]) => revoked)
        .map(([key]) => key)
        .sort()
        .join(',');
      expect(expected).toMatch(/^jti:k0,jti:k1(,jti:k2)?$/);
      const { store: truth } = await replica(redis.url, { keyPrefix: prefix });
      const live = (store: RevocationStore) =>
        store
          .list()
          .map((e) => `${e.type}:${e.value}`)
          .sort()
          .join(',');
      expect(live(truth)).toBe(expected);
      await waitFor('both mirrors to hold the last write per key', () => live(a) === expected && live(b) === expected, { timeoutMs: 3000 });
      expect(a.list().find((e) => e.value === 'k0')?.reason).toBe('last');
    } finally {
      listener.disconnect();
    }
  });

  it('start() fails within the timeout with a clear error and no password in it', async () => {
    const port = await freePort();
    const store = createRevocationStore(
      parseRevocationConfig({ store: 'redis', redis: { url: `redis://:s3cretpassw0rd@127.0.0.1:${port}`, timeoutSeconds: 0.5 } }),
      testDeps(),
    );
    const started = performance.now();
    const error = await store.start().then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(performance.now() - started).toBeLessThan(2000);
    expect(error?.message).toMatch(
      /revocation: redis at redis:\/\/:redacted@127\.0\.0\.1:\d+\/? not reachable and synchronised within 0\.5s \(last error: .*ECONNREFUSED/,
    );
    expect(error?.message).not.toContain('s3cret');
    expect(store.status().ready).toBe(false);
  });
});

describe('redis revocation store: outages and partitions', () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  beforeAll(async () => {
    redis = await RedisServer.launch({ persistent: true }); // a Redis that keeps its data over a restart
    proxy = await TcpProxy.start(redis.port);
  });
  afterAll(async () => {
    await proxy?.close();
    await redis?.dispose();
  });

  it('store down: refuses writes, serves from the mirror, goes not-ready, fails closed; B resyncs after reconnecting', async () => {
    const clock = new ManualClock();
    const { store: a, deps } = await replica(
      redis.url,
      { keyPrefix: 'outage:', maxStalenessSeconds: 30, failClosedAfterSeconds: 60 },
      clock,
    );
    const { store: b } = await replica(proxy.url, { keyPrefix: 'outage:' }); // B reaches Redis through the proxy
    await a.revoke({ type: 'jti', value: 'before-outage', reason: 'x' });
    await waitFor('B to deny before-outage', () => denied(b, 'before-outage'));

    proxy.cut(); // B stays cut off until the end
    await redis.stop();
    await waitFor('A to notice the outage', () => !a.status().up);
    await waitFor('B to notice the outage', () => !b.status().up);

    // Nothing is silently lost: the write is refused and not applied.
    await expect(a.revoke({ type: 'jti', value: 'during-outage', reason: 'x' })).rejects.toThrow(RevocationStoreUnavailableError);
    expect(denied(a, 'during-outage')).toBe(false);
    await expect(a.markRefresh('alice')).rejects.toThrow(/redis write failed/);
    // The mirror keeps serving.
    expect(denied(a, 'before-outage')).toBe(true);
    expect(a.check({ jti: 'other' })).toEqual({ revoked: null, refresh: false });

    clock.advance(31_000);
    expect(a.status()).toMatchObject({ up: false, stalenessSeconds: 31, ready: false });
    const metrics = await deps.registry.metrics();
    expect(metrics).toContain('tollgate_revocation_store_up 0');
    expect(metrics).toContain('tollgate_revocation_staleness_seconds 31');
    expect(a.check({ jti: 'other' })).toEqual({ revoked: null, refresh: false }); // not yet failing closed
    clock.advance(30_000);
    expect(a.check({ jti: 'other' })).toEqual({ revoked: 'store_unavailable' });
    expect(a.check({ jti: 'before-outage' })).toEqual({ revoked: 'jti' });
    expect(await deps.registry.metrics()).toContain('tollgate_revoked_denials_total{type="store_unavailable"} 1');

    await redis.start(); // same port, data restored from its append-only file
    await waitFor('A to reconnect and resync', () => a.status().up, { timeoutMs: 10_000 });
    expect(a.status()).toMatchObject({ up: true, stalenessSeconds: 0, ready: true });
    expect(a.check({ jti: 'other' })).toEqual({ revoked: null, refresh: false });

    // B is still partitioned: it misses the notification for this one.
    await a.revoke({ type: 'jti', value: 'while-b-partitioned', reason: 'x' });
    expect(b.status().up).toBe(false);
    expect(denied(b, 'while-b-partitioned')).toBe(false);
    expect(denied(b, 'before-outage')).toBe(true); // but keeps serving what it had

    await proxy.heal();
    const converged = await waitFor('B to reconnect, resync and deny', () => denied(b, 'while-b-partitioned'), {
      timeoutMs: 10_000,
    });
    console.log(`B converged ${converged.toFixed(0)} ms after the partition healed (reconnect backoff ≤ 2 s + resync)`);
    expect(b.status()).toMatchObject({ up: true, ready: true });
    expect(denied(b, 'before-outage')).toBe(true);
  });

  it('silent partition (no RST, no FIN): the heartbeat notices, and B resyncs once it heals', async () => {
    const { store: a } = await replica(redis.url, { keyPrefix: 'silent:' });
    const { store: b } = await replica(proxy.url, { keyPrefix: 'silent:', timeoutSeconds: 0.3 });
    proxy.freeze();
    await a.revoke({ type: 'jti', value: 'during-freeze', reason: 'x' });
    const noticed = await waitFor('B to notice the silent partition', () => !b.status().up, { timeoutMs: 5000 });
    console.log(`silent partition detected by B's heartbeat after ${noticed.toFixed(0)} ms (timeoutSeconds 0.3)`);
    expect(denied(b, 'during-freeze')).toBe(false);
    await proxy.heal();
    // Bytes held back by the partition may deliver the message first; either way B converges and is up.
    await waitFor('B to reconnect, resync and deny', () => denied(b, 'during-freeze') && b.status().up, {
      timeoutMs: 10_000,
    });
  });
});
