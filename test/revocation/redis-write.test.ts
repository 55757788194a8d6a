import { once } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeKey, type KeyWrite } from '../../src/revocation/redis-write.js';
import { RevocationOutcomeUnknownError, RevocationStoreUnavailableError } from '../../src/revocation/types.js';
import { RedisServer } from './redis-server.js';
import { waitFor } from './helpers.js';
import { TcpProxy } from './tcp-proxy.js';

/**
 * writeKey on its own, against real Redis processes: a primary with one replica (frozen with SIGSTOP
 * where a replica must not confirm), a primary without replicas, and a TCP proxy that holds a command
 * back. Each answer is checked for its class (503: not stored; 504: outcome unknown), for what it tells
 * the operator (the admin API returns the message), and for what Redis holds afterwards.
 */

const clients: Redis[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

/** A client with the command connection's options (redis-backend.ts): no queue, no retry, no resend. */
function client(url: string, commandTimeout: number, extra: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout,
    retryStrategy: () => 20,
    ...extra,
  });
  redis.on('error', () => undefined);
  clients.push(redis);
  return redis;
}

async function connected(url: string, commandTimeout: number, extra: RedisOptions = {}): Promise<Redis> {
  const redis = client(url, commandTimeout, extra);
  await redis.connect();
  return redis;
}

let counter = 0;
function change(overrides: Partial<KeyWrite> = {}): KeyWrite {
  const n = ++counter;
  return {
    key: `w:${n}`,
    kind: 'set',
    value: `value-${n}`,
    expireAtSeconds: Math.floor(Date.now() / 1000) + 3600,
    channel: 'w:changes',
    message: `change-${n}`,
    resyncMessage: `resync-${n}`,
    minReplicasAcked: undefined,
    timeoutMs: 2000,
    ...overrides,
  };
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err as Error,
  );

/** Redis's clock, in milliseconds (what the scripts' deadlines are on). */
async function redisNow(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * After `command`'s real reply, and before handing it back, the client loses its socket: `reconnect`
 * waits for a new one to be ready, otherwise the client is left closed. Nothing schedules such a thing
 * between two steps of one write today (each step is sent as the previous reply is handled); this
 * forces it, to see that a write refuses to go on over a connection other than the one it started on.
 */
function loseConnectionAfter(redis: Redis, command: 'time' | 'eval', how: 'reconnect' | 'close'): void {
  const methods = redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const original = methods[command]!.bind(redis);
  let done = false;
  methods[command] = async (...args: unknown[]) => {
    const reply = await original(...args);
    if (done) return reply;
    done = true;
    const next = once(redis, how === 'reconnect' ? 'ready' : 'end');
    redis.disconnect(how === 'reconnect');
    await next;
    return reply;
  };
}

describe('writeKey: a primary with one replica', () => {
  let primary: RedisServer;
  let follower: RedisServer;
  let direct: Redis;
  let onReplica: Redis;
  let proxy: TcpProxy;
  beforeAll(async () => {
    // No 5 s wait for more replicas before the first full sync (repl-diskless-sync-delay).
    primary = await RedisServer.launch({ args: () => ['--repl-diskless-sync-delay', '0'] });
    follower = await RedisServer.launchReplicaOf(primary);
    proxy = await TcpProxy.start(primary.port);
    direct = new Redis(primary.url);
    onReplica = new Redis(follower.url);
  });
  afterAll(async () => {
    direct?.disconnect();
    onReplica?.disconnect();
    await proxy?.close();
    await follower?.dispose();
    await primary?.dispose();
  });

  /** SIGSTOP the replica for `body`: connected for the primary, it confirms nothing. Caught up after. */
  async function withFrozenReplica(body: () => Promise<void>): Promise<void> {
    follower.freeze();
    try {
      await body();
    } finally {
      follower.resume();
    }
    await direct.set('w:sync', String(++counter));
    expect(await direct.wait(1, 10_000)).toBe(1);
  }

  it('stores a set with its expiry on the primary and the replica, publishes it, and says whether a del removed a key', async () => {
    const redis = await connected(primary.url, 2000);
    const subscriber = await connected(primary.url, 2000);
    const messages: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe('w:changes');
    const set = change();
    expect(await writeKey(redis, set)).toEqual({ changed: true });
    // WAIT returned: the replica has it already.
    expect(await onReplica.get(set.key)).toBe(set.value);
    expect(await direct.expiretime(set.key)).toBe(set.expireAtSeconds);
    const del = change({ key: set.key, kind: 'del', value: '', expireAtSeconds: 0 });
    expect(await writeKey(redis, del)).toEqual({ changed: true });
    expect(await onReplica.exists(set.key)).toBe(0);
    expect(await writeKey(redis, change({ key: set.key, kind: 'del', value: '', expireAtSeconds: 0 }))).toEqual({ changed: false });
    await waitFor('the three messages', () => messages.length === 3);
    expect(messages.slice(0, 2)).toEqual([set.message, del.message]);
  });

  it("a deadline that has passed on Redis's clock when the script runs: refused as not stored, nothing written", async () => {
    const redis = await connected(primary.url, 2000);
    // timeoutMs 0: the deadline is the TIME just read, which Redis's clock has reached by the time the script runs.
    const write = change({ timeoutMs: 0 });
    const err = await failure(writeKey(redis, write));
    expect(err).toBeInstanceOf(RevocationStoreUnavailableError);
    expect(err?.message).toBe('revocation: redis took longer than the timeout; the change was not stored');
    expect(await direct.exists(write.key)).toBe(0);
  });

  it('more replicas wanted than connected: refused, naming both counts; minReplicasAcked 0 stores without any', async () => {
    const redis = await connected(primary.url, 2000);
    const write = change({ minReplicasAcked: 2 });
    const err = await failure(writeKey(redis, write));
    expect(err).toBeInstanceOf(RevocationStoreUnavailableError);
    expect(err?.message).toBe(
      'revocation: the redis primary has 1 connected replica(s), 2 must confirm (minReplicasAcked); the change was not stored',
    );
    expect(await direct.exists(write.key)).toBe(0);
    await withFrozenReplica(async () => {
      const unconfirmed = change({ minReplicasAcked: 0 });
      expect(await writeKey(redis, unconfirmed)).toEqual({ changed: true });
      expect(await direct.get(unconfirmed.key)).toBe(unconfirmed.value);
    });
  });

  it('the replica does not confirm the change but confirms its rollback: refused as not stored, and the previous value is back everywhere', async () => {
    const timeoutMs = 2000; // WAIT for 1 s: the replica is resumed as the rollback is published, and confirms it well within that
    const redis = await connected(primary.url, timeoutMs);
    const previous = change();
    await writeKey(redis, previous);
    const previousExpiry = await direct.pexpiretime(previous.key);
    const subscriber = await connected(primary.url, timeoutMs);
    const write = change({ key: previous.key, timeoutMs });
    subscriber.on('message', (_channel: string, message: string) => {
      if (message === write.resyncMessage) follower.resume();
    });
    await subscriber.subscribe(write.channel);
    let err: Error | undefined;
    let elapsed = 0;
    await withFrozenReplica(async () => {
      const started = performance.now();
      err = await failure(writeKey(redis, write));
      elapsed = performance.now() - started;
    });
    expect(err).toBeInstanceOf(RevocationStoreUnavailableError);
    expect(err?.message).toBe('revocation: fewer than 1 redis replica(s) confirmed the change in time; it was rolled back and not stored');
    // The first WAIT waited its full half of the timeout for the frozen replica.
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs / 2 - 5);
    expect(await direct.get(previous.key)).toBe(previous.value);
    // Restored to the millisecond PTTL measures in (the script's TIME may be a millisecond past its own clock).
    expect(Math.abs((await direct.pexpiretime(previous.key)) - previousExpiry)).toBeLessThanOrEqual(2);
    expect(await onReplica.get(previous.key)).toBe(previous.value);
  });

  it('neither the change nor its rollback confirmed: outcome unknown, rolled back on the primary; each WAIT waits half the timeout', async () => {
    const timeoutMs = 400;
    const redis = await connected(primary.url, timeoutMs);
    const write = change({ timeoutMs });
    await withFrozenReplica(async () => {
      const started = performance.now();
      const err = await failure(writeKey(redis, write));
      const elapsed = performance.now() - started;
      expect(err).toBeInstanceOf(RevocationOutcomeUnknownError);
      expect(err?.message).toBe(
        'revocation: replicas did not confirm the change; it was rolled back on the primary, but the rollback is not confirmed by 1 replica(s) either',
      );
      // Two WAITs of 200 ms (Redis's own timeout: never shorter), each within the client's command timeout.
      expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 5);
      expect(await direct.exists(write.key)).toBe(0);
    });
  });

  it('a rollback delivered after its deadline is a no-op: outcome unknown, and the change stays on the primary', async () => {
    const timeoutMs = 300;
    // The client waits longer than the deadline: the held rollback is answered, with 'late'.
    const redis = await connected(proxy.url, 10_000);
    const write = change({ timeoutMs });
    await withFrozenReplica(async () => {
      proxy.holdFrom('superseded'); // the rollback script, not the change
      const outcome = failure(writeKey(redis, write));
      await waitFor('the rollback to be held', () => proxy.holding);
      // The rollback's TIME went through before it: its deadline is at most timeoutMs past this.
      const heldAt = await redisNow(direct);
      await waitFor("Redis's clock to pass the rollback's deadline", async () => (await redisNow(direct)) > heldAt + timeoutMs, {
        intervalMs: 20,
      });
      await proxy.heal();
      const err = await outcome;
      expect(err).toBeInstanceOf(RevocationOutcomeUnknownError);
      expect(err?.message).toBe(
        'revocation: replicas did not confirm the change and the rollback came too late; it is stored on the primary',
      );
      expect(await direct.get(write.key)).toBe(write.value);
    });
  });

  it('a rollback unanswered within the command timeout: outcome unknown, and delivered late it changes nothing', async () => {
    const timeoutMs = 300;
    const redis = await connected(proxy.url, timeoutMs);
    const write = change({ timeoutMs });
    await withFrozenReplica(async () => {
      proxy.holdFrom('superseded');
      const err = await failure(writeKey(redis, write));
      expect(err).toBeInstanceOf(RevocationOutcomeUnknownError);
      expect(err?.message).toBe(
        'revocation: redis did not answer the rollback (Command timed out); the change may have been stored, ' +
          'but it cannot take effect any later: list the revocations to see which',
      );
      await proxy.heal();
      await redis.ping(); // the held rollback, then this: Redis has run (and refused) the rollback
      expect(await direct.get(write.key)).toBe(write.value);
    });
  });

  it('a change unanswered within the command timeout: outcome unknown, and delivered late it is not applied', async () => {
    const timeoutMs = 300;
    const redis = await connected(proxy.url, timeoutMs);
    const write = change({ timeoutMs });
    proxy.holdFrom('EVAL');
    const err = await failure(writeKey(redis, write));
    expect(err).toBeInstanceOf(RevocationOutcomeUnknownError);
    expect(err?.message).toBe(
      'revocation: redis did not answer the write (Command timed out); the change may have been stored, ' +
        'but it cannot take effect any later: list the revocations to see which',
    );
    await proxy.heal();
    await redis.ping();
    expect(await direct.exists(write.key)).toBe(0);
  });

  it('a WAIT that Redis refuses (an ACL without it) after the change: outcome unknown, not "not stored"; no WAIT when none must confirm', async () => {
    await direct.call('ACL', 'SETUSER', 'nowait', 'on', 'nopass', '~*', '&*', '+@all', '-wait');
    const redis = await connected(primary.url, 2000, { username: 'nowait', password: 'any' });
    const unconfirmed = change({ minReplicasAcked: 0 });
    expect(await writeKey(redis, unconfirmed)).toEqual({ changed: true });
    expect(await direct.get(unconfirmed.key)).toBe(unconfirmed.value);
    const write = change();
    const err = await failure(writeKey(redis, write));
    expect(err).toBeInstanceOf(RevocationOutcomeUnknownError);
    expect(err?.message).toMatch(/^revocation: redis did not answer the replication wait \(NOPERM .*\); the change may have been stored/);
    expect(await direct.get(write.key)).toBe(write.value);
  });

  it('a PUBLISH that Redis refuses after the write (an ACL without it): the write is undone in the script, so "not stored" holds', async () => {
    // A user that may SUBSCRIBE (the mirror starts) but not PUBLISH: the script's write ran before its PUBLISH failed.
    await direct.call('ACL', 'SETUSER', 'nopublish', 'on', 'nopass', '~*', '&*', '+@all', '-publish');
    const redis = await connected(primary.url, 2000, { username: 'nopublish', password: 'any' });
    const previous = change();
    await direct.set(previous.key, 'previous', 'PXAT', Date.now() + 3_600_000);
    const previousExpiry = await direct.pexpiretime(previous.key);
    await direct.set(`${previous.key}:persistent`, 'previous');
    for (const write of [
      change({ key: previous.key }),
      change({ key: previous.key, kind: 'del', value: '', expireAtSeconds: 0 }),
      change({ key: `${previous.key}:persistent` }),
      change({ key: `${previous.key}:new` }),
    ]) {
      const err = await failure(writeKey(redis, write));
      expect(err).toBeInstanceOf(RevocationStoreUnavailableError);
      expect(err?.message).toMatch(/^revocation: redis write failed \(.*can't run this command.*\); the change was not stored/);
    }
    expect(await direct.get(previous.key)).toBe('previous');
    // Restored to the millisecond PTTL measures in (the script's TIME may be a millisecond past its own clock).
    expect(Math.abs((await direct.pexpiretime(previous.key)) - previousExpiry)).toBeLessThanOrEqual(2);
    expect(await direct.get(`${previous.key}:persistent`)).toBe('previous');
    expect(await direct.pexpiretime(`${previous.key}:persistent`)).toBe(-1);
    expect(await direct.exists(`${previous.key}:new`)).toBe(0);
  });

  it('a script Redis refuses before its first write (a replica is read-only): refused as not stored', async () => {
    const redis = await connected(follower.url, 2000);
    const write = change();
    const err = await failure(writeKey(redis, write));
    expect(err).toBeInstanceOf(RevocationStoreUnavailableError);
    expect(err?.message).toMatch(
      /^revocation: redis write failed \(READONLY .*\); the change was not stored, retry when redis is reachable$/,
    );
    expect(await direct.exists(write.key)).toBe(0);
  });

  it('no client, or a closed one: refused as not stored; a client not connected yet connects', async () => {
    const message =
      'revocation: redis write failed (no connection to the primary); the change was not stored, retry when redis is reachable';
    const none = await failure(writeKey(undefined, change()));
    expect(none).toBeInstanceOf(RevocationStoreUnavailableError);
    expect(none?.message).toBe(message);
    const closed = await connected(primary.url, 2000);
    closed.disconnect();
    await waitFor('the client to close', () => closed.status === 'end');
    const refused = await failure(writeKey(closed, change()));
    expect(refused).toBeInstanceOf(RevocationStoreUnavailableError);
    expect(refused?.message).toBe(message);
    const lazy = client(primary.url, 2000);
    expect(lazy.status).toBe('wait');
    const write = change();
    expect(await writeKey(lazy, write)).toEqual({ changed: true });
    expect(await direct.get(write.key)).toBe(write.value);
  });

  describe('the connection lost between two steps of one write', () => {
    it('after TIME, reconnected: refused as not stored, and the change is not sent on the new connection', async () => {
      const redis = await connected(primary.url, 2000);
      loseConnectionAfter(redis, 'time', 'reconnect');
      const write = change();
      const err = await failure(writeKey(redis, write));
      expect(err).toBeInstanceOf(RevocationStoreUnavailableError);
      expect(err?.message).toBe(
        'revocation: redis write failed (the connection to the primary was lost); the change was not stored, retry when redis is reachable',
      );
      expect(await direct.exists(write.key)).toBe(0);
    });

    it('after the change, reconnected: outcome unknown, never a WAIT on the new connection (which would confirm at once)', async () => {
      const redis = await connected(primary.url, 2000);
      loseConnectionAfter(redis, 'eval', 'reconnect');
      const write = change();
      await withFrozenReplica(async () => {
        const err = await failure(writeKey(redis, write));
        expect(err).toBeInstanceOf(RevocationOutcomeUnknownError);
        expect(err?.message).toBe(
          'revocation: the connection to the redis primary was lost before the replication wait; the change may have been stored, ' +
            'but it cannot take effect any later: list the revocations to see which',
        );
        expect(await direct.get(write.key)).toBe(write.value);
      });
    });

    it('after the change, closed: outcome unknown, naming the lost connection', async () => {
      const redis = await connected(primary.url, 2000);
      loseConnectionAfter(redis, 'eval', 'close');
      const write = change();
      const err = await failure(writeKey(redis, write));
      expect(err).toBeInstanceOf(RevocationOutcomeUnknownError);
      expect(err?.message).toMatch(/^revocation: the connection to the redis primary was lost before the replication wait;/);
    });
  });
});

describe('writeKey: a primary without replicas', () => {
  let lone: RedisServer;
  let direct: Redis;
  beforeAll(async () => {
    lone = await RedisServer.launch();
    direct = new Redis(lone.url);
  });
  afterAll(async () => {
    direct?.disconnect();
    await lone?.dispose();
  });

  it('minReplicasAcked unset: nothing to wait for, stored', async () => {
    const redis = await connected(lone.url, 2000);
    const write = change();
    expect(await writeKey(redis, write)).toEqual({ changed: true });
    expect(await direct.get(write.key)).toBe(write.value);
  });

  it('a frozen Redis that does not answer TIME: refused as not stored (nothing was sent yet)', async () => {
    const redis = await connected(lone.url, 200);
    const write = change();
    lone.freeze();
    let err: Error | undefined;
    try {
      err = await failure(writeKey(redis, write));
    } finally {
      lone.resume();
    }
    expect(err).toBeInstanceOf(RevocationStoreUnavailableError);
    expect(err?.message).toBe(
      'revocation: redis write failed (Command timed out); the change was not stored, retry when redis is reachable',
    );
    expect(await direct.exists(write.key)).toBe(0);
  });
});
