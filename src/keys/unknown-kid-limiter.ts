import type { Clock } from '../util/clock.js';

/** Bounds memory under a storm of random kids; losing the entries only loosens per-kid memory, not the fetch rate limit. */
const NEGATIVE_CACHE_LIMIT = 10_000;

/**
 * An unknown kid may mean the issuer rotated, so it may trigger a refetch: at most one per cooldown
 * across all callers (a storm of random kids joins the one load in flight), and a kid still unknown
 * afterwards is remembered for a cooldown and triggers nothing.
 */
export class UnknownKidLimiter {
  /** kid → remembered as unknown until (clock ms). */
  private readonly remembered = new Map<string, number>();
  private nextFetchMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly cooldownMs: number,
  ) {}

  /**
   * Whether this kid may wait for a load. Joining a load already in flight costs nothing; starting one
   * uses up the cooldown.
   */
  admit(kid: string, loadInFlight: boolean): boolean {
    const now = this.clock.now();
    const until = this.remembered.get(kid);
    if (until !== undefined && now < until) return false;
    if (loadInFlight) return true;
    if (now < this.nextFetchMs) return false;
    this.nextFetchMs = now + this.cooldownMs;
    return true;
  }

  /** The kid was still unknown after the load it waited for. */
  remember(kid: string): void {
    if (this.remembered.size >= NEGATIVE_CACHE_LIMIT) this.remembered.clear();
    this.remembered.set(kid, this.clock.now() + this.cooldownMs);
  }
}
