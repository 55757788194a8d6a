import { randomBytes, sign } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../util/clock.js';
import type { ActorClaim } from '../util/actor-chain.js';
import type { InternalTokenMetrics } from './metrics.js';
import { INTERNAL_TOKEN_TYP, type InternalTokensConfig } from './schema.js';
import type { SigningKey, SigningKeys } from './signing-keys.js';

export interface MintRequest {
  sub: string;
  audience: string;
  /** The configured claims, as the verified token carries them (absent ones left out). */
  claims: Record<string, unknown>;
  act: ActorClaim;
  /** RFC 8705 `x5t#S256` of the certificate the token is bound to (`cnf`); unbound when absent. */
  x5tS256?: string;
  /** The token the request came with expires then (seconds): a minted token never outlives it. */
  notAfter?: number;
}

interface CachedToken {
  token: string;
  sub: string;
  kid: string;
  iat: number;
  jti: string;
  exp: number;
  /** Reused until then: a fifth of its lifetime before `exp`. */
  reuseUntilMs: number;
}

/** Minted tokens kept for reuse (LRU). */
const CACHE_ENTRIES = 10_000;

/**
 * Signs internal tokens and reuses them. A token is cached per (subject, audience, copied claims,
 * actor chain and bound certificate thumbprint as JSON, signing key id) and handed out again until
 * less than a fifth of its lifetime remains. The actor chain and the thumbprint are part of the key:
 * two gateways asking for one user must not get each other's `act`, nor two certificates of one
 * workload (before and after a rotation) each other's binding. When the signing keys change, entries of any other key are dropped at once;
 * `forgetSubject` drops a revoked subject's entries (the bug Oathkeeper #763 describes is a cache
 * that outlives the key or the grant it was made under).
 */
export class TokenMinter {
  private readonly cache = new LRUCache<string, CachedToken>({ max: CACHE_ENTRIES });
  private readonly algorithm: { digest: string | null; dsaEncoding?: 'ieee-p1363' };

  constructor(
    private readonly config: InternalTokensConfig,
    private readonly keys: SigningKeys,
    private readonly clock: Clock,
    private readonly metrics: InternalTokenMetrics,
  ) {
    this.algorithm =
      config.algorithm === 'EdDSA'
        ? { digest: null }
        : config.algorithm === 'ES256'
          ? { digest: 'sha256', dsaEncoding: 'ieee-p1363' }
          : { digest: 'sha256' };
  }

  /**
   * The minted (or reused) compact JWS; undefined when no key can sign (the caller denies).
   * `revoked` is asked about a cached token before it is reused: a subject revoked since (a cut-off
   * after the cached token's `iat`) empties the entry, and a fresh token is signed.
   */
  mint(request: MintRequest, revoked: (claims: { sub: string; iat: number; jti: string }) => boolean = () => false): string | undefined {
    const nowMs = this.clock.now();
    const key = this.keys.signingKey(nowMs, this.config.publishAheadSeconds * 1000);
    if (!key) {
      this.metrics.mintError.inc();
      return undefined;
    }
    const cacheKey = `${key.kid}\u0000${request.audience}\u0000${request.sub}\u0000${JSON.stringify([request.claims, request.act, request.x5tS256 ?? null])}`;
    const cached = this.cache.get(cacheKey);
    // Reused only while it does not outlive the token this request came with.
    if (cached && nowMs < cached.reuseUntilMs && cached.exp <= (request.notAfter ?? Infinity)) {
      if (!revoked(cached)) {
        this.metrics.cacheHits.inc();
        return cached.token;
      }
      this.forgetSubject(cached.sub);
    }
    const iat = Math.floor(nowMs / 1000);
    const exp = Math.min(iat + this.config.ttlSeconds, request.notAfter ?? Infinity);
    if (exp <= iat) {
      this.metrics.mintError.inc();
      return undefined;
    }
    const jti = randomBytes(16).toString('base64url');
    const token = this.sign(key, {
      iss: this.config.issuer,
      sub: request.sub,
      aud: request.audience,
      iat,
      nbf: iat,
      exp,
      jti,
      ...request.claims,
      act: request.act,
      ...(request.x5tS256 === undefined ? {} : { cnf: { 'x5t#S256': request.x5tS256 } }),
    });
    this.metrics.mintSuccess.inc();
    this.cache.set(cacheKey, { token, sub: request.sub, kid: key.kid, iat, jti, exp, reuseUntilMs: (exp - (exp - iat) / 5) * 1000 });
    return token;
  }

  /** After a key change: only tokens of the key that signs now may be handed out again. */
  keepOnlyKey(kid: string | undefined): void {
    for (const [cacheKey, entry] of this.cache.entries()) if (entry.kid !== kid) this.cache.delete(cacheKey);
  }

  forgetSubject(sub: string): void {
    for (const [cacheKey, entry] of this.cache.entries()) if (entry.sub === sub) this.cache.delete(cacheKey);
  }

  get size(): number {
    return this.cache.size;
  }

  private sign(key: SigningKey, claims: Record<string, unknown>): string {
    const header = base64url({ alg: this.config.algorithm, typ: INTERNAL_TOKEN_TYP, kid: key.kid });
    const input = `${header}.${base64url(claims)}`;
    const signature = sign(this.algorithm.digest, Buffer.from(input), { key: key.privateKey, dsaEncoding: this.algorithm.dsaEncoding });
    return `${input}.${signature.toString('base64url')}`;
  }
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
