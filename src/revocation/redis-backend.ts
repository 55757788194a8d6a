import { randomUUID } from 'node:crypto';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import type { Backend } from './backend.js';
import { entrySchema, refreshMarkerSchema, storeOpSchema, type StoreOp } from './entries.js';
import type { Mirror } from './mirror.js';
import type { RedisConfig } from './redis-config.js';
import { createRedisTopology, type RedisTopology } from './redis-topology.js';
import { writeKey, type KeyWrite } from './redis-write.js';
import { errorMessage, type RefreshMarker, type RevocationEntry } from './types.js';

export type RedisBackendOptions = RedisConfig & { channel: string };

/**
 * A message on the channel: a change (`id` lets the writer recognise its own change coming back), or
 * after a rolled-back write, a request that every replica resynchronises.
 */
const messageSchema = z.union([z.object({ id: z.string(), change: storeOpSchema }), z.object({ id: z.string(), resync: z.literal(true) })]);
type Message = z.output<typeof messageSchema>;
type ChangeMessage = Extract<Message, { change: StoreOp }>;
const SCAN_COUNT = 1000;
const RESYNC_RETRY_MS = 1000;
/** A connection that gave up (`end`) is started again after this pause (a subscriber: possibly to another node). */
const RESTART_AFTER_END_MS = 200;
/** A DPoP replay check waits this long for Redis: below Envoy's default ext_authz timeout of 200 ms. */
const CLAIM_TIMEOUT_MS = 150;

/**
 * Entries live in Redis as one key each (`<prefix>rev:<type>:<value>`, `<prefix>refresh:<sub>`) with
 * an EXAT expiry, so Redis drops them on its own. Every change is written and published in one
 * MULTI, so the channel carries changes in commit order. Each replica subscribes, then takes a full
 * snapshot (SCAN + MGET) on start and after every reconnect: messages missed while disconnected are
 * recovered by the snapshot, messages that arrive during it are replayed on top of it.
 *
 * The writer applies its own change when it comes back on the channel (not when EXEC returns), so
 * concurrent writes from several replicas land in every mirror in the same order as in Redis.
 *
 * Redis must persist (AOF or RDB) for revocations to survive a Redis restart: a restarted, empty
 * Redis is the truth every replica resynchronises to. Sentinel and Cluster (redis-topology.ts): a
 * failover closes the connection and ioredis reconnects to the new primary, which triggers the same
 * full resync; a cluster resync scans every primary. Writes are made durable by redis-write.ts.
 */
export class RedisBackend implements Backend {
  private readonly topology: RedisTopology;
  private readonly command: Redis | Cluster;
  private subscriber: Redis;
  private readonly subscriberOptions: RedisOptions;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly timeoutMs: number;
  private inSync = false;
  private staleSinceMs: number;
  /** Bumped on every disconnect: a snapshot taken across one may be missing changes and is discarded. */
  private epoch = 0;
  /** Changes received while a snapshot is taken; replayed on top of it. */
  private buffered: Message[] | undefined;
  /** Own writes waiting for their echo on the channel; `committed` once the write is durable. */
  private readonly pending = new Map<string, { change: StoreOp; committed: boolean; done: () => void }>();
  private syncRunning = false;
  private syncAgain = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly pinging = new Set<Redis | Cluster>();
  private retryTimer: NodeJS.Timeout | undefined;
  private firstSync: { resolve(): void } | undefined;
  private lastError = 'none';
  private stopped = false;

  constructor(
    private readonly options: RedisBackendOptions,
    private readonly mirror: Mirror,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.timeoutMs = options.timeoutSeconds * 1000;
    this.staleSinceMs = clock.now();
    const base: RedisOptions = {
      lazyConnect: true,
      // A write while disconnected must fail now, not wait in a queue the admin never hears back from.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Subscribing is part of the resync sequence (subscribe, then snapshot), so we do it ourselves.
      autoResubscribe: false,
      connectTimeout: this.timeoutMs,
      commandTimeout: this.timeoutMs,
      // A connection we drop is dead to us: do not wait (default 2 s) for a FIN that a partition eats.
      disconnectTimeout: 100,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000),
    };
    this.topology = createRedisTopology(options, base);
    this.command = this.topology.client;
    this.subscriberOptions = { ...base, connectionName: 'tollgate-revocation-sub' };
    this.watch(this.command);
    // ioredis gives a connection up for good when its connector fails outright, e.g. Sentinel's failover
    // detector closing it while it was still asking the sentinels for the primary: start it again.
    this.command.on('end', () => this.afterEnd(() => void this.command.connect().catch(() => undefined)));
    // Cluster: a primary added or removed (failover, resharding) may hold keys the mirror lacks.
    this.command.on('+node', () => this.requestSync());
    this.command.on('-node', () => this.requestSync());
    this.subscriber = this.newSubscriber();
  }

  private watch(connection: Redis | Cluster): void {
    connection.on('error', (err: Error) => {
      this.lastError = err.message;
      this.logger.debug({ err: err.message }, 'revocation: redis connection error');
    });
    connection.on('close', () => this.onDisconnect());
    connection.on('ready', () => this.requestSync());
  }

  /** Subscribes itself on every resync; a cluster subscriber that gives up (`end`) is replaced. */
  private newSubscriber(): Redis {
    const subscriber = this.topology.createSubscriber(this.subscriberOptions);
    this.watch(subscriber);
    subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    subscriber.once('end', () => {
      if (subscriber !== this.subscriber) return;
      this.afterEnd(() => {
        this.subscriber = this.newSubscriber();
        this.subscriber.connect().catch(() => undefined);
      });
    });
    return subscriber;
  }

  private afterEnd(restart: () => void): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (!this.stopped) restart();
    }, RESTART_AFTER_END_MS);
    timer.unref();
    this.restartTimers.add(timer);
  }

  async start(): Promise<void> {
    const synced = new Promise<void>((resolve) => (this.firstSync = { resolve }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `revocation: ${this.topology.description} not reachable and synchronised within ` +
                `${this.options.timeoutSeconds}s (last error: ${this.lastError}); check revocation.redis`,
            ),
          ),
        this.timeoutMs,
      );
    });
    this.heartbeat = setInterval(() => this.beat(), this.timeoutMs);
    this.heartbeat.unref();
    this.command.connect().catch(() => undefined);
    this.subscriber.connect().catch(() => undefined);
    try {
      await Promise.race([synced, timeout]);
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retryTimer);
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.settlePending();
    this.command.disconnect();
    this.subscriber.disconnect();
  }

  async write(change: StoreOp): Promise<boolean> {
    const id = randomUUID();
    // Registered before sending: the echo can overtake the script's reply, which comes on another connection.
    const echoed = new Promise<void>((resolve) => this.pending.set(id, { change, committed: false, done: resolve }));
    const write = this.keyWrite(change, id);
    let changed: boolean;
    try {
      ({ changed } = await writeKey(this.topology.primaryFor(write.key), write));
    } catch (err) {
      this.pending.delete(id);
      this.lastError = errorMessage(err);
      throw err;
    }
    const own = this.pending.get(id);
    if (own !== undefined) own.committed = true;
    await this.awaitEcho(id, echoed);
    return change.op === 'unrevoke' ? changed : true;
  }

  private keyWrite(change: StoreOp, id: string): KeyWrite {
    const common = {
      channel: this.options.channel,
      message: JSON.stringify({ id, change }),
      resyncMessage: JSON.stringify({ id, resync: true }),
      minReplicasAcked: this.options.minReplicasAcked,
      timeoutMs: this.timeoutMs,
    };
    // The stored value carries the write's id, so a rollback reverts only its own write.
    switch (change.op) {
      case 'revoke':
        return {
          ...common,
          key: this.entryKey(change.entry),
          kind: 'set',
          value: JSON.stringify({ ...change.entry, writeId: id }),
          expireAtSeconds: Math.ceil(change.entry.expiresAt),
        };
      case 'unrevoke':
        return { ...common, key: this.entryKey(change), kind: 'del', value: '', expireAtSeconds: 0 };
      case 'refresh':
        return {
          ...common,
          key: this.markerKey(change.marker),
          kind: 'set',
          value: JSON.stringify({ ...change.marker, writeId: id }),
          expireAtSeconds: Math.ceil(change.marker.expiresAt),
        };
    }
  }

  /**
   * A DPoP proof seen once across every replica (src/pipeline/dpop-replay.ts): SET NX with the time the
   * proof stays acceptable, on the primary. Rejects when Redis does not answer within
   * CLAIM_TIMEOUT_MS (the offline queue is off, so a lost connection rejects at once): the caller then
   * refuses the proof. A SET that lands after that only refuses a later replay of a proof already refused.
   */
  async claimOnce(key: string, expiresAtMs: number): Promise<boolean> {
    const ttlMs = Math.max(1, Math.ceil(expiresAtMs - this.clock.now()));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis did not answer the replay check in time')), CLAIM_TIMEOUT_MS);
    });
    try {
      const answer = await Promise.race([this.command.set(`${this.options.keyPrefix}dpop:${key}`, '1', 'PX', ttlMs, 'NX'), late]);
      return answer === 'OK';
    } finally {
      clearTimeout(timer);
    }
  }

  health(): { up: boolean; staleSinceMs: number | null } {
    return { up: this.inSync, staleSinceMs: this.inSync ? null : this.staleSinceMs };
  }

  async maintain(): Promise<void> {}

  /** Wait for the own change to come back; if the channel is lagging or down, apply it here and resync. */
  private async awaitEcho(id: string, echoed: Promise<void>): Promise<void> {
    if (!this.inSync) {
      // Not subscribed: the echo will not come. The resync on reconnect reconciles the order.
      this.settlePending(id);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.timeoutMs)));
    const outcome = await Promise.race([echoed, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.logger.warn('revocation: own change did not come back on the redis channel in time; resynchronising');
      this.settlePending(id);
      this.requestSync();
    }
  }

  /** Apply and release committed own writes (all, or one) whose echo will not come. */
  private settlePending(id?: string): void {
    const now = this.clock.now();
    for (const [key, { change, committed, done }] of this.pending) {
      if (!committed || (id !== undefined && key !== id)) continue;
      this.pending.delete(key);
      this.mirror.apply(change, now);
      done();
    }
  }

  private onMessage(channel: string, raw: string): void {
    if (channel !== this.options.channel) return;
    let parsed: Message | undefined;
    try {
      const result = messageSchema.safeParse(JSON.parse(raw));
      if (result.success) parsed = result.data;
    } catch {
      // fall through: not JSON
    }
    if (parsed === undefined) {
      this.logger.warn({ channel }, 'revocation: ignoring a malformed message on the revocation channel');
      return;
    }
    if (this.buffered !== undefined) this.buffered.push(parsed);
    else if ('resync' in parsed) this.requestSync();
    else this.applyMessage(parsed);
  }

  private applyMessage(message: ChangeMessage): void {
    this.mirror.apply(message.change, this.clock.now());
    const own = this.pending.get(message.id);
    if (own !== undefined) {
      this.pending.delete(message.id);
      own.done();
    }
  }

  private onDisconnect(): void {
    this.epoch++;
    this.markStale('revocation: lost redis; serving from the in-memory mirror until it is back');
    // Echoes of own writes may have been lost with the connection; the resync on reconnect fixes order.
    this.settlePending();
  }

  /** From now on the mirror may miss changes: the staleness gauge and /readyz count from here. */
  private markStale(message: string): void {
    if (!this.inSync) return;
    this.inSync = false;
    this.staleSinceMs = this.clock.now();
    if (!this.stopped) this.logger.warn(message);
  }

  /** Coalesces resync requests: one runs at a time, and one more runs if asked during it. */
  private requestSync(): void {
    if (this.stopped) return;
    if (this.syncRunning) {
      this.syncAgain = true;
      return;
    }
    this.syncRunning = true;
    void (async () => {
      try {
        do {
          this.syncAgain = false;
          await this.syncOnce();
        } while (this.syncAgain && !this.stopped);
      } finally {
        this.syncRunning = false;
      }
    })();
  }

  private async syncOnce(): Promise<void> {
    if (this.command.status !== 'ready' || this.subscriber.status !== 'ready') return; // next 'ready' asks again
    const epoch = this.epoch;
    const started = Date.now();
    this.buffered = [];
    let snapshot: { entries: RevocationEntry[]; markers: RefreshMarker[]; skipped: number } | undefined;
    try {
      // Subscribe first: a change committed after this point reaches us either way, snapshot or message.
      await this.subscriber.subscribe(this.options.channel);
      snapshot = await this.snapshot();
    } catch (err) {
      this.lastError = errorMessage(err);
      // A resync is asked for when the mirror may have missed changes (a topology change, a rollback).
      this.markStale('revocation: redis resync failed; serving from the in-memory mirror until it succeeds');
      this.logger.warn({ err: this.lastError }, 'revocation: redis resync failed; retrying');
      this.retryTimer = setTimeout(() => this.requestSync(), RESYNC_RETRY_MS);
      this.retryTimer.unref();
    }
    const buffered = this.buffered;
    this.buffered = undefined;
    if (snapshot !== undefined && epoch === this.epoch) {
      this.mirror.replaceAll(snapshot.entries, snapshot.markers);
    }
    for (const message of buffered) {
      if ('resync' in message) this.syncAgain = true;
      else this.applyMessage(message);
    }
    if (snapshot === undefined || epoch !== this.epoch) return;
    this.inSync = true;
    if (snapshot.skipped > 0) {
      this.logger.warn({ skipped: snapshot.skipped }, 'revocation: ignored malformed values under the redis key prefix');
    }
    this.logger.info({ entries: this.mirror.size, durationMs: Date.now() - started }, 'revocation: synchronised with redis');
    this.firstSync?.resolve();
    this.firstSync = undefined;
  }

  private async snapshot(): Promise<{ entries: RevocationEntry[]; markers: RefreshMarker[]; skipped: number }> {
    const entries: RevocationEntry[] = [];
    const markers: RefreshMarker[] = [];
    let skipped = 0;
    const entryPrefix = `${this.options.keyPrefix}rev:`;
    const markerPrefix = `${this.options.keyPrefix}refresh:`;
    for (const primary of this.topology.primaries()) {
      let cursor = '0';
      do {
        const [next, keys] = await primary.scan(cursor, 'MATCH', `${escapeGlob(this.options.keyPrefix)}*`, 'COUNT', SCAN_COUNT);
        cursor = next;
        if (keys.length === 0) continue;
        // One GET per key, pipelined: MGET would need every key in one cluster slot.
        const pipeline = primary.pipeline();
        for (const key of keys) pipeline.get(key);
        const values = (await pipeline.exec()) ?? [];
        keys.forEach((key, index) => {
          const [err, raw] = values[index] ?? [null, null];
          if (err !== null) throw err;
          if (typeof raw !== 'string') return; // expired between SCAN and GET
          if (key.startsWith(entryPrefix)) {
            const entry = parseJson(raw, entrySchema);
            if (entry === undefined) skipped++;
            else entries.push(entry);
          } else if (key.startsWith(markerPrefix)) {
            const marker = parseJson(raw, refreshMarkerSchema);
            if (marker === undefined) skipped++;
            else markers.push(marker);
          }
        });
      } while (cursor !== '0');
    }
    return { entries, markers, skipped };
  }

  /**
   * An idle subscriber never notices a silent partition (no RST, no FIN). A PING bounded by the command
   * timeout on each connection does; a failed one forces a reconnect, and with it a resync.
   */
  private beat(): void {
    for (const connection of [this.command, this.subscriber]) {
      if (connection.status !== 'ready' || this.pinging.has(connection)) continue;
      this.pinging.add(connection);
      connection
        .ping()
        .catch((err: unknown) => {
          if (this.stopped) return;
          this.lastError = errorMessage(err);
          this.logger.warn({ err: this.lastError }, 'revocation: redis heartbeat failed; reconnecting');
          this.onDisconnect(); // out of sync now, not when the dead socket finally reports 'close'
          connection.disconnect(true);
        })
        .finally(() => this.pinging.delete(connection));
    }
  }

  private entryKey(entry: { type: string; value: string }): string {
    return `${this.options.keyPrefix}rev:${entry.type}:${entry.value}`;
  }

  private markerKey(marker: { sub: string }): string {
    return `${this.options.keyPrefix}refresh:${marker.sub}`;
  }
}

function parseJson<T>(raw: string, schema: z.ZodType<T>): T | undefined {
  try {
    const result = schema.safeParse(JSON.parse(raw));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
