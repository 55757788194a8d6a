import { LRUCache } from 'lru-cache';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import { repeatLimiter } from '../util/repeat-limiter.js';
import { introspect, type IntrospectionAnswer, type IntrospectionEndpoint } from './introspection-client.js';
import type { OpaqueMetrics } from './metrics.js';
import type { IntrospectionConfig } from './schema.js';

/** What the cache keeps: an active token's claims (the same object on every hit) or the word that it is not. */
type Cached = Extract<IntrospectionAnswer, { kind: 'active' } | { kind: 'inactive' }>;

/** Rough bytes of an inactive entry, and the overhead of an active one beside its response text. */
const ENTRY_OVERHEAD = 256;

/**
 * One provider's introspection: a bounded cache keyed by a SHA-256 of the token (the caller's; the token
 * itself is never kept), answers that never outlive the token's `exp`, a short negative cache for
 * `active: false`, and one call per token however many Checks miss it at once. A failure is never
 * cached: the next Check asks again.
 */
export class Introspector {
  private readonly cache: LRUCache<string, Cached> | undefined;
  /** Calls in flight, by token hash: identical concurrent misses wait on the same one. */
  private readonly pending = new Map<string, Promise<IntrospectionAnswer>>();
  private readonly hit;
  private readonly label;
  private readonly limitRepeats;

  constructor(
    private readonly config: IntrospectionConfig & { provider: string },
    private readonly endpoint: IntrospectionEndpoint,
    private readonly clock: Clock,
    private readonly metrics: OpaqueMetrics,
    private readonly log: Logger,
  ) {
    this.label = { provider: config.provider };
    // The same failure is logged at most once a minute (with the count of repeats): an outage is one line, not one per Check.
    this.limitRepeats = repeatLimiter(clock);
    this.hit = metrics.hits.labels(this.label);
    this.cache =
      config.maxEntries > 0
        ? new LRUCache<string, Cached>({
            max: config.maxEntries,
            maxSize: 64 * 1024 * 1024,
            sizeCalculation: (entry) => ENTRY_OVERHEAD + (entry.kind === 'active' ? 2 * entry.bytes : 0),
            perf: clock,
            // Read the clock on every lookup, so an entry's end is the token's `exp` to the second.
            ttlResolution: 0,
          })
        : undefined;
  }

  /** A cached answer synchronously (most Checks), otherwise the shared call's. `key` is the token's hash. */
  answer(token: string, key: string): Cached | Promise<IntrospectionAnswer> {
    const cached = this.cache?.get(key);
    if (cached) {
      this.hit.inc();
      return cached;
    }
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    this.metrics.misses.inc(this.label);
    const call = this.call(token, key).finally(() => this.pending.delete(key));
    this.pending.set(key, call);
    return call;
  }

  private async call(token: string, key: string): Promise<IntrospectionAnswer> {
    const stop = this.metrics.latency.startTimer(this.label);
    const answer = await introspect(this.endpoint, token);
    stop();
    this.metrics.calls.inc({ ...this.label, result: answer.kind === 'failure' ? answer.cause : answer.kind });
    if (answer.kind === 'failure') {
      // The cause only: never the token, the secret or the response body.
      const { log, repeated } = this.limitRepeats(answer.cause);
      if (log)
        this.log.warn({ cause: answer.cause, ...(repeated ? { repeated } : {}) }, 'introspection: call failed; its Checks are denied');
    } else {
      const ttl = this.ttlMs(answer);
      if (ttl > 0) this.cache?.set(key, answer, { ttl });
    }
    return answer;
  }

  /** How long an answer may be kept: the configured time, never past an active token's `exp`. */
  private ttlMs(answer: Cached): number {
    if (answer.kind === 'inactive') return this.config.negativeCacheSeconds * 1000;
    const exp = answer.claims.exp;
    // Without a numeric exp nothing bounds the token's life: it is asked about each time (and refused).
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return 0;
    return Math.min(this.config.cacheSeconds * 1000, exp * 1000 - this.clock.now());
  }
}
