import { LRUCache } from 'lru-cache';
import type { Clock } from '../util/clock.js';

/**
 * One cached key. Keys are objects found through nested maps (subject → context → id), never a
 * string joined from the parts: a crafted id cannot make two different questions share an answer.
 */
class Slot {
  /** The upstream call in flight for this key: identical concurrent misses wait on it. */
  pending: Promise<RolesAnswer> | undefined;
  constructor(
    readonly sub: string,
    readonly context: string,
    readonly id: string,
  ) {}
}

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
function sizeOf(slot: Slot, value: Cached): number {
  let chars = slot.sub.length + slot.context.length + slot.id.length;
  for (const role of value.roles) chars += role.length;
  return ENTRY_OVERHEAD + 2 * chars;
}

/**
 * The roles a context source answered, bounded by count and bytes (LRU), with a shorter life for
 * answers without roles, one upstream call per key however many checks miss at once, and a way to drop
 * everything cached for one subject. Expiry uses the injected clock.
 */
export class ContextRoleCache {
  private readonly index = new Map<string, Map<string, Map<string, Slot>>>();
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
  async get(sub: string, context: string, id: string, fetch: () => Promise<RolesAnswer>, onHit: () => void): Promise<RolesAnswer> {
    const slot = this.slot(sub, context, id);
    const cached = this.lru.get(slot);
    if (cached !== undefined) {
      if (cached.expiresAt > this.clock.now()) {
        onHit();
        return { ok: true, roles: cached.roles };
      }
      this.lru.delete(slot);
    }
    if (slot.pending) return slot.pending;
    const pending = fetch().then((answer) => {
      slot.pending = undefined;
      // Cache only while the slot is still current: an invalidation during the call drops its answer.
      if (answer.ok && this.find(sub, context, id) === slot) {
        const seconds = answer.roles.length > 0 ? this.limits.cacheSeconds : this.limits.negativeCacheSeconds;
        if (seconds > 0) this.lru.set(slot, { roles: answer.roles, expiresAt: this.clock.now() + seconds * 1000 });
      }
      if (!this.lru.has(slot)) this.unindex(slot);
      return answer;
    });
    slot.pending = pending;
    return pending;
  }

  /** Forget every answer about `sub` (its permissions changed). */
  dropSubject(sub: string): void {
    const contexts = this.index.get(sub);
    if (!contexts) return;
    this.index.delete(sub);
    for (const ids of contexts.values()) for (const slot of ids.values()) this.lru.delete(slot);
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

  private find(sub: string, context: string, id: string): Slot | undefined {
    return this.index.get(sub)?.get(context)?.get(id);
  }

  private slot(sub: string, context: string, id: string): Slot {
    let contexts = this.index.get(sub);
    if (!contexts) this.index.set(sub, (contexts = new Map<string, Map<string, Slot>>()));
    let ids = contexts.get(context);
    if (!ids) contexts.set(context, (ids = new Map<string, Slot>()));
    let slot = ids.get(id);
    if (!slot) ids.set(id, (slot = new Slot(sub, context, id)));
    return slot;
  }

  private unindex(slot: Slot): void {
    const contexts = this.index.get(slot.sub);
    const ids = contexts?.get(slot.context);
    if (ids?.get(slot.id) !== slot) return;
    ids.delete(slot.id);
    if (ids.size === 0) contexts?.delete(slot.context);
    if (contexts?.size === 0) this.index.delete(slot.sub);
  }
}
