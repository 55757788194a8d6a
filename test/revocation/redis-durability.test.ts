import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createRevocationStore,
  parseRevocationConfig,
  RevocationOutcomeUnknownError,
  RevocationStoreUnavailableError,
  type RevocationConfigInput,
  type RevocationStore,
} from '../../src/revocation/index.js';
import { SECRET, startAdmin, type AdminFixture } from '../admin/admin-server.js';
import { RedisServer } from './redis-server.js';
import { testDeps, waitFor } from './helpers.js';
import { TcpProxy } from './tcp-proxy.js';

const open: RevocationStore[] = [];
const admins: AdminFixture[] = [];
afterEach(async () => {
  await Promise.all(admins.splice(0).map((admin) => admin.close()));
  await Promise.all(open.splice(0).map((store) => store.stop()));
});

async function replica(url: string, keyPrefix: string, redis: Record<string, unknown> = {}): Promise<RevocationStore> {
  const config: RevocationConfigInput = {
    store: 'redis',
    redis: { url, keyPrefix, timeoutSeconds: 2, ...redis },
    defaultTtlSeconds: 3600,
  };
  const store = createRevocationStore(parseRevocationConfig(config), testDeps());
  open.push(store);
  await store.start();
  return store;
}

async function adminFor(store: RevocationStore): Promise<AdminFixture> {
  const admin = await startAdmin(() => store);
  admins.push(admin);
  return admin;
}

async function call(admin: AdminFixture, method: string, path: string, body?: unknown): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${admin.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, error: text === '' ? undefined : (JSON.parse(text) as { error?: string }).error };
}

const denies = (store: RevocationStore, jti: string) => store.check({ jti }).revoked === 'jti';
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('redis revocation store: an acknowledged change is on the replicas (WAIT), a refused one nowhere', () => {
  let primary: RedisServer;
  let follower: RedisServer;
  let direct: Redis;
  let onReplica: Redis;
  beforeAll(async () => {
    primary = await RedisServer.launch();
    follower = await RedisServer.launchReplicaOf(primary);
    direct = new Redis(primary.url);
    onReplica = new Redis(follower.url);
  });
  afterAll(async () => {
    direct?.disconnect();
    onReplica?.disconnect();
    await follower?.dispose();
    await primary?.dispose();
  });
  const key = (prefix: string, jti: string) => `${prefix}rev:jti:${jti}`;

  it('with a replica connected (default minReplicasAcked: 1), the replica holds the change when revoke() resolves', async () => {
    const a = await replica(primary.url, 'w1:');
    for (let i = 0; i < 20; i++) {
      await a.revoke({ type: 'jti', value: `acked-${i}`, reason: 'x' });
      expect(await onReplica.exists(key('w1:', `acked-${i}`))).toBe(1);
    }
  });

  it('left unset, minReplicasAcked waits for the connected replica: a replica that does not confirm means no 2xx, and the change is rolled back', async () => {
    // Deterministic where the loop above races localhost replication: the replica is connected but
    // frozen, so only a WAIT for it (the default with a replica connected) can refuse the change.
    const a = await replica(primary.url, 'w4:');
    follower.freeze();
    try {
      const err = await failure(a.revoke({ type: 'jti', value: 'unacked', reason: 'x' }));
      expect(err).toBeInstanceOf(RevocationOutcomeUnknownError);
      expect(await direct.exists(key('w4:', 'unacked'))).toBe(0);
      await waitFor('the mirror to drop the rolled-back change', () => !denies(a, 'unacked'));
    } finally {
      follower.resume();
    }
  });

  it('more replicas required than connected: 503-class refusal, nothing stored anywhere', async () => {
    const a = await replica(primary.url, 'w2:', { minReplicasAcked: 2 });
    const b = await replica(primary.url, 'w2:');
    const err = await failure(a.revoke({ type: 'jti', value: 'needs-two', reason: 'x' }));
    expect(err).toBeInstanceOf(RevocationStoreUnavailableError);
    expect((err as Error).message).toMatch(/1 connected replica\(s\), 2 must confirm/);
    expect(await direct.exists(key('w2:', 'needs-two'))).toBe(0);
    expect(denies(a, 'needs-two') || denies(b, 'needs-two')).toBe(false);
  });

  it('replicas that do not confirm in time: the change is rolled back on the primary and disappears from every mirror', async () => {
    const a = await replica(primary.url, 'w3:', { minReplicasAcked: 1 });
    const b = await replica(primary.url, 'w3:');
    await a.revoke({ type: 'jti', value: 'kept', reason: 'x' });
    const ttl = await direct.pexpiretime(key('w3:', 'kept'));
    follower.freeze(); // still "connected" for the primary, but acknowledges nothing
    try {
      const revoke = await failure(a.revoke({ type: 'jti', value: 'unconfirmed', reason: 'x' }));
      // The rollback itself cannot be confirmed by the frozen replica: "unknown", never "not applied".
      expect(revoke).toBeInstanceOf(RevocationOutcomeUnknownError);
      expect(await direct.exists(key('w3:', 'unconfirmed'))).toBe(0);
      const unrevoke = await failure(a.unrevoke('jti', 'kept'));
      expect(unrevoke).toBeInstanceOf(RevocationOutcomeUnknownError);
      // Restored on the primary with its original expiry (to the millisecond PTTL measures in).
      expect(Math.abs((await direct.pexpiretime(key('w3:', 'kept'))) - ttl)).toBeLessThanOrEqual(2);
      await waitFor('both mirrors to resync to the rolled-back state', () =>
        [a, b].every((store) => denies(store, 'kept') && !denies(store, 'unconfirmed')),
      );
    } finally {
      follower.resume();
    }
    await waitFor(
      'the replica to catch up',
      async () => (await onReplica.exists(key('w3:', 'kept'))) === 1 && (await onReplica.exists(key('w3:', 'unconfirmed'))) === 0,
      { intervalMs: 20 },
    );
  });
});

describe('redis revocation store: a frozen Redis never gets a 503 that it applies later (issue 14, finding 1)', () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  let direct: Redis;
  beforeAll(async () => {
    redis = await RedisServer.launch();
    proxy = await TcpProxy.start(redis.port);
    direct = new Redis(redis.url);
  });
  afterAll(async () => {
    direct?.disconnect();
    await proxy?.close();
    await redis?.dispose();
  });

  it('SIGSTOP: POST and DELETE answered without a 2xx, and neither is applied once Redis resumes', async () => {
    const a = await replica(redis.url, 'f1:');
    const b = await replica(redis.url, 'f1:');
    const admin = await adminFor(a);
    expect((await call(admin, 'POST', '/admin/v1/revocations', { type: 'jti', value: 'revoked', reason: 'x' })).status).toBe(201);
    redis.freeze();
    let statuses: number[];
    try {
      statuses = (
        await Promise.all([
          call(admin, 'POST', '/admin/v1/revocations', { type: 'jti', value: 'while-frozen', reason: 'x' }),
          call(admin, 'DELETE', '/admin/v1/revocations/jti/revoked'),
        ])
      ).map((answer) => answer.status);
    } finally {
      redis.resume();
    }
    console.log(`answers while Redis was frozen: POST ${statuses[0]}, DELETE ${statuses[1]}`);
    for (const status of statuses) expect([503, 504]).toContain(status);
    await waitFor('A and B to be back in sync', () => a.status().up && b.status().up);
    expect(await direct.exists('f1:rev:jti:while-frozen')).toBe(0);
    expect(await direct.exists('f1:rev:jti:revoked')).toBe(1);
    expect([denies(a, 'revoked'), denies(b, 'revoked'), denies(a, 'while-frozen'), denies(b, 'while-frozen')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it('a write held by the network and delivered after its deadline is a no-op', async () => {
    const a = await replica(proxy.url, 'f2:');
    const b = await replica(redis.url, 'f2:');
    const admin = await adminFor(a);
    await a.revoke({ type: 'jti', value: 'revoked', reason: 'x' });
    const attempts = [
      () => call(admin, 'DELETE', '/admin/v1/revocations/jti/revoked'),
      () => call(admin, 'POST', '/admin/v1/revocations', { type: 'jti', value: 'late', reason: 'x' }),
    ];
    for (const attempt of attempts) {
      proxy.holdFrom('EVAL'); // TIME goes through, the script itself is held back
      // Not 503: nobody can know yet whether the script ran. 504 says so.
      expect(await attempt()).toEqual({ status: 504, error: 'outcome_unknown' });
      await proxy.heal(); // the held script reaches Redis now, seconds late, and Redis has processed it
      await waitFor('A to be back in sync', () => a.status().up);
    }
    expect(admin.lines.filter((line) => line.includes('"status":504')).length).toBe(2); // audited as such
    expect(await direct.exists('f2:rev:jti:revoked')).toBe(1);
    expect(await direct.exists('f2:rev:jti:late')).toBe(0);
    expect([denies(a, 'revoked'), denies(b, 'revoked'), denies(a, 'late'), denies(b, 'late')]).toEqual([true, true, false, false]);
  });
});
