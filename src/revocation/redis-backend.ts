import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import type { Backend } from './backend.js';
import { entrySchema, refreshMarkerSchema, storeOpSchema, type StoreOp } from './entries.js';
import type { Mirror } from './mirror.js';
import { errorMessage, RevocationStoreUnavailableError, type RefreshMarker, type RevocationEntry } from './types.js';

export interface RedisBackendOptions {
  url: string;
  keyPrefix: string;
  channel: string;
  timeoutSeconds: number;
}

/** A change as published on the channel; `id` lets the writer recognise its own change coming back. */
const messageSchema = z.object({ id: z.string(), change: storeOpSchema });
const SCAN_COUNT = 1000;
const RESYNC_RETRY_MS = 1000;

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
 * Redis is the truth every replica resynchronises to.
 */
export class RedisBackend implements Backend {
  private readonly command: Redis;
  private readonly subscriber: Redis;
  private readonly timeoutMs: number;
  private inSync = false;
  private staleSinceMs: number;
  /** Bumped on every disconnect: a snapshot taken across one may be missing changes and is discarded. */
  private epoch = 0;
  /** Changes received while a snapshot is taken; replayed on top of it. */
  private buffered: Array<z.output<typeof messageSchema>> | undefined;
  /** Own writes waiting for their echo on the channel; `committed` once EXEC succeeded. */
  private readonly pending = new Map<string, { change: StoreOp; committed: boolean; done: () => void }>();
  private syncRunning = false;
  private syncAgain = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly pinging = new Set<Redis>();
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
    this.command = new Redis(options.url, { ...base, connectionName: 'tollgate-revocation' });
    this.subscriber = new Redis(options.url, { ...base, connectionName: 'tollgate-revocation-sub' });
    for (const connection of [this.command, this.subscriber]) {
      connection.on('error', (err: Error) => {
        this.lastError = err.message;
        this.logger.debug({ err: err.message }, 'revocation: redis connection error');
      });
      connection.on('close', () => this.onDisconnect());
      connection.on('ready', () => this.requestSync());
    }
    this.subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
  }

  async start(): Promise<void> {
    const synced = new Promise<void>((resolve) => (this.firstSync = { resolve }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `revocation: redis at ${redactUrl(this.options.url)} not reachable and synchronised within ` +
                `${this.options.timeoutSeconds}s (last error: ${this.lastError}); check revocation.redis.url`,
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
    this.settlePending();
    this.command.disconnect();
    this.subscriber.disconnect();
  }

  async write(change: StoreOp): Promise<boolean> {
    const id = randomUUID();
    // Registered before sending: the echo can overtake EXEC's reply, which comes on another connection.
    const echoed = new Promise<void>((resolve) => this.pending.set(id, { change, committed: false, done: resolve }));
    const transaction = this.command.multi();
    switch (change.op) {
      case 'revoke':
        transaction.set(this.entryKey(change.entry), JSON.stringify(change.entry), 'EXAT', Math.ceil(change.entry.expiresAt));
        break;
      case 'unrevoke':
        transaction.del(this.entryKey(change));
        break;
      case 'refresh':
        transaction.set(this.markerKey(change.marker), JSON.stringify(change.marker), 'EXAT', Math.ceil(change.marker.expiresAt));
        break;
    }
    transaction.publish(this.options.channel, JSON.stringify({ id, change }));
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await transaction.exec();
    } catch (err) {
      results = null;
      this.lastError = errorMessage(err);
    }
    const failure = results === null ? this.lastError : results.find(([err]) => err !== null)?.[0]?.message;
    if (failure !== undefined) {
      this.pending.delete(id);
      throw new RevocationStoreUnavailableError(
        `revocation: redis write failed (${failure}); the change was not stored, retry when redis is reachable`,
      );
    }
    const own = this.pending.get(id);
    if (own !== undefined) own.committed = true;
    await this.awaitEcho(id, echoed);
    return change.op === 'unrevoke' ? results?.[0]?.[1] === 1 : true;
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
    let parsed: z.output<typeof messageSchema> | undefined;
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
    else this.applyMessage(parsed);
  }

  private applyMessage(message: z.output<typeof messageSchema>): void {
    this.mirror.apply(message.change, this.clock.now());
    const own = this.pending.get(message.id);
    if (own !== undefined) {
      this.pending.delete(message.id);
      own.done();
    }
  }

  private onDisconnect(): void {
    this.epoch++;
    if (this.inSync) {
      this.inSync = false;
      this.staleSinceMs = this.clock.now();
      if (!this.stopped) this.logger.warn('revocation: lost redis; serving from the in-memory mirror until it is back');
    }
    // Echoes of own writes may have been lost with the connection; the resync on reconnect fixes order.
    this.settlePending();
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
      this.logger.warn({ err: this.lastError }, 'revocation: redis resync failed; retrying');
      this.retryTimer = setTimeout(() => this.requestSync(), RESYNC_RETRY_MS);
      this.retryTimer.unref();
    }
    const buffered = this.buffered;
    this.buffered = undefined;
    if (snapshot !== undefined && epoch === this.epoch) {
      this.mirror.replaceAll(snapshot.entries, snapshot.markers);
    }
    for (const message of buffered) this.applyMessage(message);
    if (snapshot === undefined || epoch !== this.epoch) return;
    this.inSync = true;
    if (snapshot.skipped > 0) {
      this.logger.warn({ skipped: snapshot.skipped }, 'revocation: ignored malformed values under the redis key prefix');
    }
    this.logger.info(
      { entries: this.mirror.size, durationMs: Date.now() - started },
      'revocation: synchronised with redis',
    );
    this.firstSync?.resolve();
    this.firstSync = undefined;
  }

  private async snapshot(): Promise<{ entries: RevocationEntry[]; markers: RefreshMarker[]; skipped: number }> {
    const entries: RevocationEntry[] = [];
    const markers: RefreshMarker[] = [];
    let skipped = 0;
    const entryPrefix = `${this.options.keyPrefix}rev:`;
    const markerPrefix = `${this.options.keyPrefix}refresh:`;
    let cursor = '0';
    do {
      const [next, keys] = await this.command.scan(cursor, 'MATCH', `${escapeGlob(this.options.keyPrefix)}*`, 'COUNT', SCAN_COUNT);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await this.command.mget(...keys);
      keys.forEach((key, index) => {
        const raw = values[index];
        if (raw === null || raw === undefined) return; // expired between SCAN and MGET
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

/** Connection URLs may carry a password; error messages and logs get the URL without it. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return 'redis (unparseable url)';
  }
}
