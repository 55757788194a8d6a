import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRevocationStore,
  parseRevocationConfig,
  type RevocationConfigInput,
  type RevocationStore,
} from '../../src/revocation/index.js';
import { ClusterSet } from './redis-topologies.js';
import { testDeps, waitFor } from './helpers.js';

const REVOCATIONS = 1000;

describe('redis revocation store: Redis Cluster (three primaries)', () => {
  let cluster: ClusterSet;
  const stores: RevocationStore[] = [];
  beforeAll(async () => {
    cluster = await ClusterSet.launch();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.stop()));
    await cluster?.dispose();
  });

  /** `seed`: the one node this replica is told about (its subscriber starts there). */
  async function replica(seed = 0): Promise<RevocationStore> {
    const config: RevocationConfigInput = {
      store: 'redis',
      redis: { cluster: { nodes: [cluster.addresses[seed] ?? ''] }, keyPrefix: 'c:', timeoutSeconds: 2 },
      defaultTtlSeconds: 3600,
    };
    const store = createRevocationStore(parseRevocationConfig(config), testDeps());
    stores.push(store);
    await store.start();
    return store;
  }

  it('1,000 revocations spread over the slots of every primary; a replica started afterwards sees all of them', async () => {
    const a = await replica(0);
    const b = await replica(1);
    const values = Array.from({ length: REVOCATIONS }, (_, i) => `cluster-${i}`);
    const slots = new Set(values.map((value) => calculateSlot(`c:rev:jti:${value}`)));
    expect(slots.size).toBeGreaterThan(900); // spread, not one hash-tagged slot
    const started = performance.now();
    for (let i = 0; i < values.length; i += 50) {
      await Promise.all(values.slice(i, i + 50).map((value) => a.revoke({ type: 'jti', value, reason: 'cluster' })));
    }
    console.log(`cluster: ${REVOCATIONS} revocations through A in ${(performance.now() - started).toFixed(0)} ms`);
    await waitFor('B to have all of them', () => b.status().entries === REVOCATIONS, { timeoutMs: 5000 });

    // Each primary holds a share: the resync below must read all three.
    for (const node of cluster.nodes) {
      const client = new Redis({ port: node.port, host: '127.0.0.1' });
      try {
        expect(Number(await client.dbsize())).toBeGreaterThan(REVOCATIONS / 6);
      } finally {
        client.disconnect();
      }
    }

    const late = await replica(2);
    expect(late.status().entries).toBe(REVOCATIONS);
    expect(values.every((value) => late.check({ jti: value }).revoked === 'jti')).toBe(true);
  }, 60_000);

  it('a revocation through A reaches B, listening on another node, within a second', async () => {
    const a = await replica(0);
    const b = await replica(2);
    const propagation: number[] = [];
    for (let i = 0; i < 30; i++) {
      const value = `propagate-${i}`;
      const started = performance.now();
      await a.revoke({ type: 'jti', value, reason: 'x' });
      await waitFor(`B to deny ${value}`, () => b.check({ jti: value }).revoked === 'jti', { timeoutMs: 1000, intervalMs: 0 });
      propagation.push(performance.now() - started);
    }
    propagation.sort((x, y) => x - y);
    console.log(
      `cluster propagation A.revoke() → B denies: p50 ${propagation[15]?.toFixed(2)} ms, max ${propagation.at(-1)?.toFixed(2)} ms`,
    );
    expect(propagation.at(-1)).toBeLessThan(1000);
  });
});

describe('redis revocation store: Redis Cluster failover (three primaries, one replica each)', () => {
  let cluster: ClusterSet;
  const stores: RevocationStore[] = [];
  beforeAll(async () => {
    cluster = await ClusterSet.launch(3, 1);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.stop()));
    await cluster?.dispose();
  });

  async function replica(seed: number): Promise<RevocationStore> {
    const config: RevocationConfigInput = {
      store: 'redis',
      redis: { cluster: { nodes: [cluster.addresses[seed] ?? ''] }, keyPrefix: 'cf:', timeoutSeconds: 2 },
      defaultTtlSeconds: 3600,
    };
    const store = createRevocationStore(parseRevocationConfig(config), testDeps());
    stores.push(store);
    await store.start();
    return store;
  }

  /** Values whose keys live in the slots `node` serves now. */
  async function valuesOn(node: number, count: number, tag: string): Promise<string[]> {
    const client = new Redis({ port: cluster.nodes[node]?.port, host: '127.0.0.1' });
    try {
      const ranges = ((await client.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>).filter(
        ([, , [, port]]) => port === cluster.nodes[node]?.port,
      );
      const values: string[] = [];
      for (let i = 0; values.length < count; i++) {
        const slot = calculateSlot(`cf:rev:jti:${tag}-${i}`);
        if (ranges.some(([start, end]) => slot >= start && slot <= end)) values.push(`${tag}-${i}`);
      }
      return values;
    } finally {
      client.disconnect();
    }
  }

  it('a revocation acknowledged right before its primary dies survives the promotion; every replica resyncs and follows', async () => {
    expect(await Promise.all(cluster.nodes.map((node) => cluster.role(node)))).toEqual([
      'master',
      'master',
      'master',
      'slave',
      'slave',
      'slave',
    ]);
    const a = await replica(0);
    const b = await replica(1);
    const victim = 2; // a primary neither A nor B was seeded with
    const [before = '', last = '', ...during] = await valuesOn(victim, 400, 'on-victim');
    await a.revoke({ type: 'jti', value: before, reason: 'x' });
    await waitFor('B to deny the first revocation', () => b.check({ jti: before }).revoked === 'jti');
    await a.revoke({ type: 'jti', value: last, reason: 'x' });
    await cluster.nodes[victim]?.stop(); // SIGKILL right after the 2xx; its replica has both (WAIT-confirmed)
    const killed = performance.now();

    const outcomes: Array<{ value: string; ok: boolean; atMs: number }> = [];
    let bWentStale = false;
    for (const value of during) {
      const ok = await a.revoke({ type: 'jti', value, reason: 'x' }).then(
        () => true,
        () => false,
      );
      outcomes.push({ value, ok, atMs: performance.now() - killed });
      // B answers every check from its mirror and never forgets a revocation (no partial resync while
      // the dead primary's slots have no owner). Whether it already denies `last` depends on whether
      // the dead node relayed the message over the cluster bus before it died; the resync settles it.
      expect(b.check({ jti: before })).toEqual({ revoked: 'jti' });
      expect(b.check({ jti: 'innocent' })).toEqual({ revoked: null, refresh: false });
      bWentStale ||= !b.status().up;
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 25)); // pacing the load, not synchronising
    }
    const refused = outcomes.filter((outcome) => !outcome.ok);
    console.log(
      `cluster failover: writes to the dead primary's slots refused for ${(refused.at(-1)?.atMs ?? 0).toFixed(0)} ms ` +
        `(${refused.length} refused), then stored on the promoted replica`,
    );
    expect(outcomes.at(-1)?.ok).toBe(true);
    expect(bWentStale, 'B reported the gap while the slots had no primary').toBe(true);
    const accepted = outcomes.filter((outcome) => outcome.ok).map((outcome) => outcome.value);
    await waitFor(
      'B to deny what A stored after the failover',
      () => accepted.every((value) => b.check({ jti: value }).revoked === 'jti'),
      { timeoutMs: 1000 },
    );
    await waitFor('A and B back in sync', () => a.status().up && b.status().up, { timeoutMs: 10_000 });
    await waitFor('B to deny the revocation acknowledged just before the failover', () => b.check({ jti: last }).revoked === 'jti', {
      timeoutMs: 10_000,
    });

    const late = await replica(4);
    for (const value of [before, last, ...accepted]) expect(late.check({ jti: value }), value).toEqual({ revoked: 'jti' });
    for (const { value } of refused) expect(late.check({ jti: value }).revoked).toBeNull();
  }, 60_000);
});
