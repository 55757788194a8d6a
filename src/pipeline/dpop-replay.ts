import { hash } from 'node:crypto';

export type ReplayVerdict = 'fresh' | 'replayed' | 'unavailable';

/**
 * Set-if-absent with expiry in a store every replica shares (the revocation store's Redis). Resolves
 * true when the key was absent and is now set; rejects when the store cannot answer.
 */
export type SharedClaim = (key: string, expiresAtMs: number) => Promise<boolean>;

/**
 * Proofs this replica remembers at most. At ~70 bytes an entry the cap is about 70 MB; the window
 * (`maxAgeSeconds` + twice the skew, 120 s by default) times the proof rate is what is held, so a
 * replica would reach it at about 8,000 new proofs a second.
 */
export const MAX_REMEMBERED_PROOFS = 1_000_000;

/**
 * Remembers each DPoP proof (RFC 9449 §11.1) until it would be refused as too old anyway. Keys are
 * SHA-256 of the proof key's thumbprint and the `jti`, cut to 128 bits: fixed size whatever a client
 * sends, and one client's `jti` never collides with another's. Held in this replica's memory first (a
 * proof replayed to the same replica is refused without a round trip), then, when the revocation
 * store is Redis, in Redis with SET NX PX, so a proof replayed to another replica is refused too. A
 * proof that cannot be remembered is not accepted: Redis unreachable, or, without Redis, the memory
 * cache full (`unavailable`, fail closed). With Redis a full memory cache only loses the shortcut.
 *
 * One guard lives for the process (not per config): a reload must not forget the proofs already seen.
 */
export class ReplayGuard {
  /** Key → expiry in whole seconds after `epochSeconds`: a small integer V8 stores unboxed. */
  private readonly seen = new Map<string, number>();
  private readonly epochSeconds: number;

  constructor(
    private readonly now: () => number,
    private readonly maxEntries = MAX_REMEMBERED_PROOFS,
  ) {
    this.epochSeconds = Math.floor(now() / 1000);
  }

  get size(): number {
    return this.seen.size;
  }

  /** `acceptableUntil` in seconds; `shared` when the revocation store can hold the key for every replica. */
  claim(jkt: string, jti: string, acceptableUntil: number, shared: SharedClaim | undefined): ReplayVerdict | Promise<ReplayVerdict> {
    const key = hash('sha256', `${jkt}\n${jti}`, 'buffer').subarray(0, 16).toString('base64url');
    const nowSeconds = this.now() / 1000;
    this.sweep(nowSeconds);
    const expires = this.seen.get(key);
    if (expires !== undefined && expires + this.epochSeconds > nowSeconds) return 'replayed';
    const remembered = this.seen.size < this.maxEntries;
    // Deleted first so that a re-set entry moves to the back, where the sweep expects the newest.
    this.seen.delete(key);
    if (remembered) this.seen.set(key, Math.ceil(acceptableUntil) - this.epochSeconds);
    if (shared)
      return shared(key, acceptableUntil * 1000).then(
        (fresh) => (fresh ? 'fresh' : 'replayed'),
        () => 'unavailable' as const,
      );
    return remembered ? 'fresh' : 'unavailable';
  }

  /**
   * Drops expired entries from the front. Insertion order is nearly expiry order (proofs' `iat` differ
   * by at most the skew), so a later-expiring entry in front only keeps the ones behind it a little
   * longer; the cap bounds memory either way.
   */
  private sweep(nowSeconds: number): void {
    for (const [key, expires] of this.seen) {
      if (expires + this.epochSeconds > nowSeconds) return;
      this.seen.delete(key);
    }
  }
}
