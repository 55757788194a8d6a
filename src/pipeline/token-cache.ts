import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../util/clock.js';
import type { VerifiedToken } from './verify.js';

/**
 * Verified-token cache: a browser sends the same token for minutes, and verifying a signature costs
 * far more than the rest of a Check. Entries are keyed by a SHA-256 of the exact token bytes (the
 * cache never holds a token), expire no later than the token's `exp`, and are bounded in count and in
 * approximate bytes. The caller still re-checks time claims, key trust and revocation on every hit.
 * Entries age on the same injected clock as those checks, so a token's expiry means one moment to both.
 */
export class TokenCache {
  private readonly lru: LRUCache<string, VerifiedToken> | undefined;

  constructor(
    maxEntries: number,
    private readonly clock: Clock,
    maxBytes = 64 * 1024 * 1024,
  ) {
    this.lru =
      maxEntries > 0
        ? new LRUCache<string, VerifiedToken>({
            max: maxEntries,
            maxSize: maxBytes,
            perf: clock,
            // Read the clock on every lookup: lru-cache would otherwise reuse a reading for 1 ms of real time.
            ttlResolution: 0,
            // Claims dominate an entry; the token's payload length is a fair, free measure of them.
            sizeCalculation: (entry) => 256 + entry.payloadBytes,
          })
        : undefined;
  }

  static keyOf(token: string): string {
    // The one-shot hash avoids a Hash object per Check.
    return hash('sha256', token, 'base64url');
  }

  get(key: string): VerifiedToken | undefined {
    return this.lru?.get(key);
  }

  set(key: string, entry: VerifiedToken, expiresAtMs: number): void {
    const ttl = expiresAtMs - this.clock.now();
    if (this.lru && ttl > 0) this.lru.set(key, entry, { ttl });
  }

  delete(key: string): void {
    this.lru?.delete(key);
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }
}
