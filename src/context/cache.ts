import { LRUCache } from 'lru-cache';
import type { Clock } from '../util/clock.js';

/**
 * One cached key. Keys are objects found through nested maps (subject → provider → context → id),
 * never a string joined from the parts: a crafted id cannot make two different questions share an
 * answer. The provider is part of the key: `123` of one identity provider is not `123` of another,
 * and one's roles must never answer for the other.
 */
class Slot {
  /** The upstream call in flight for this key: identical concurrent misses wait on it. */
  pending: Promise<RolesAnswer> | undefined;
  constructor(readonly key: ContextKey) {}
}

/** What a context source is asked: which roles `sub` (of `provider`) holds in `context` `id`. */
export interface ContextKey {
  readonly provider: string;
  readonly sub: string;
  readonly context: string;
  readonly id: string;
}

type Index = Map<string, Map<string, Map<string, Map<string, Slot>>>>;

export type RolesAnswer = { ok: true; roles: readonly string[] } | { ok: false };

interface Cached {
  roles: readonly string[];
  expiresAt: number;
}

export interface CacheLimits {
  maxEntries: number;
  maxBytes: number;
  cacheSeconds: number;
  negativeCacheSeconds: number;
}

/** Rough bytes an entry holds: its strings as UTF-16 plus a fixed overhead for the objects. */
const ENTRY_OVERHEAD = 128;
function sizeOf({ key }: Slot, value: Cached): number {
  let chars = key.provider.length + key.sub.length + key.context.length + key.id.length;
  for (const role of value.roles) chars += role.length;
  return ENTRY_OVERHEAD + 2 * chars;
}

/**
 * The roles a context source answered, bounded by count and bytes (LRU), with a shorter life for
 * answers without roles, one upstream call per key however many checks miss at once, and a way to drop
 * everything cached for one subject. Expiry uses the injected clock.
 */
export class ContextRoleCache {
  private readonly index: Index = new Map();
  private readonly lru: LRUCache<Slot, Cached>;

  constructor(
    private readonly limits: CacheLimits,
    private readonly clock: Clock,
  ) {
    this.lru = new LRUCache<Slot, Cached>({
      max: limits.maxEntries,
      maxSize: limits.maxBytes,
      sizeCalculation: (value, slot) => sizeOf(slot, value),
      dispose: (_value, slot) => {
        if (slot.pending === undefined) this.unindex(slot);
      },
    });
  }

  /**
   * The cached answer, or `fetch`'s — started once per key while it runs. `onHit` tells the caller the
   * answer came from the cache (a wait on another check's call is not a hit: it is that call's miss).
   */
  async get(key: ContextKey, fetch: () => Promise<RolesAnswer>, onHit: () => void): Promise<RolesAnswer> {
    const slot = this.slot(key);
    const cached = this.lru.get(slot);
    if (cached !== undefined && cached.expiresAt > this.clock.now()) {
      onHit();
      return { ok: true, roles: cached.roles };
    }
    if (slot.pending) return slot.pending;
    const pending = fetch().then((answer) => {
      slot.pending = undefined;
      // Cache only while the slot is still current: an invalidation during the call drops its answer.
      if (answer.ok && this.find(key) === slot) {
        const seconds = answer.roles.length > 0 ? this.limits.cacheSeconds : this.limits.negativeCacheSeconds;
        if (seconds > 0) this.lru.set(slot, { roles: answer.roles, expiresAt: this.clock.now() + seconds * 1000 });
      }
      if (!this.lru.has(slot)) this.unindex(slot);
      return answer;
    });
    slot.pending = pending;
    // An expired answer goes only now: with the call pending, its removal keeps the slot indexed, so the
    // new answer is kept and concurrent misses wait on this call (removed first, both were lost).
    if (cached !== undefined) this.lru.delete(slot);
    return pending;
  }

  /**
   * Forget every answer about `sub`, of every provider (its permissions changed). A revocation names a
   * subject without its provider, so it drops the namesakes' answers too: a lookup more, never a grant.
   */
  dropSubject(sub: string): void {
    const providers = this.index.get(sub);
    if (!providers) return;
    this.index.delete(sub);
    for (const contexts of providers.values()) for (const ids of contexts.values()) for (const slot of ids.values()) this.lru.delete(slot);
  }

  dropAll(): void {
    this.index.clear();
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  private find({ provider, sub, context, id }: ContextKey): Slot | undefined {
    return this.index.get(sub)?.get(provider)?.get(context)?.get(id);
  }

  private slot(key: ContextKey): Slot {
    const ids = child(child(child(this.index, key.sub), key.provider), key.context);
    let slot = ids.get(key.id);
    if (!slot) ids.set(key.id, (slot = new Slot(key)));
    return slot;
  }

  private unindex(slot: Slot): void {
    const { provider, sub, context, id } = slot.key;
    const providers = this.index.get(sub);
    const contexts = providers?.get(provider);
    const ids = contexts?.get(context);
    if (ids?.get(id) !== slot) return;
    ids.delete(id);
    if (ids.size === 0) contexts?.delete(context);
    if (contexts?.size === 0) providers?.delete(provider);
    if (providers?.size === 0) this.index.delete(sub);
  }
}

/** The map under `name` in `parent`, made when missing. */
function child<V>(parent: Map<string, Map<string, V>>, name: string): Map<string, V> {
  let map = parent.get(name);
  if (!map) parent.set(name, (map = new Map<string, V>()));
  return map;
}
