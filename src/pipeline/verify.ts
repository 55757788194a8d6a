import type { KeyObject } from 'node:crypto';
import type { ProviderConfig } from '../config/providers.js';
import { KeyError, verifySignature, type KeyManager } from '../keys/index.js';
import type { ClaimPath } from '../util/claim-path.js';
import type { Clock } from '../util/clock.js';
import type { TokenLocation } from './extract.js';
import { claimsFailure, timeFailure } from './claims.js';
import { criticalExtensionsUnderstood, decodeJws } from './jws.js';
import type { TokenFailure } from '../reasons.js';
import { TokenCache } from './token-cache.js';
import type { ApiKeyStore, Introspector } from '../opaque/index.js';
import { OpaqueTokens } from './opaque.js';

/** A provider ready to verify: its config, where its keys come from, and where its tokens travel. */
export interface ProviderRuntime {
  config: ProviderConfig;
  /** Asymmetric keys (JWKS). */
  keys?: KeyManager;
  /** Shared secret for HS* algorithms. */
  hmacKey?: Uint8Array;
  /** Opaque tokens of an `introspection` provider (pipeline/opaque.ts). */
  introspector?: Introspector;
  /** API keys of an `apiKeys` provider (pipeline/opaque.ts). */
  apiKeys?: ApiKeyStore;
  /** `TokenLocation.key`s this provider's tokens may arrive in. */
  locationKeys: ReadonlySet<string>;
  /** `claimToHeaders` with claim paths split once, at load. */
  claimHeaders: ReadonlyArray<{ header: string; claim: ClaimPath }>;
}

export interface VerifiedToken {
  provider: ProviderRuntime;
  /** The verified payload: a JSON object whose claims passed the provider's checks. */
  claims: Readonly<Record<string, unknown>>;
  /** Id of the key that verified the signature; `hmac` for a shared secret. */
  keyId: string;
  payloadBytes: number;
}

export type VerifyOutcome =
  { ok: true; token: VerifiedToken; cached: boolean } | { ok: false; reason: TokenFailure; provider?: ProviderRuntime };

const HMAC_KEY_ID = 'hmac';

export class TokenVerifier {
  private readonly byIssuer: Map<string, ProviderRuntime>;
  private readonly cache: TokenCache;
  private readonly opaque: OpaqueTokens;

  constructor(
    providers: readonly ProviderRuntime[],
    private readonly options: { maxTokenBytes: number; clock: Clock; cacheEntries: number },
  ) {
    // Only JWT providers are chosen by `iss`; opaque tokens are routed by where they came from.
    this.byIssuer = new Map(
      providers.flatMap((p) => (p.config.issuer === undefined || p.config.introspection ? [] : [[p.config.issuer, p]])),
    );
    this.cache = new TokenCache(options.cacheEntries, options.clock);
    this.opaque = new OpaqueTokens(providers, options.clock);
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /**
   * A cache hit (or a token too large to look at) is answered synchronously: most Checks carry a token
   * seen before, and a promise for each would only be garbage. Anything else verifies the signature.
   */
  verify(token: string, location: TokenLocation): VerifyOutcome | Promise<VerifyOutcome> {
    // Before anything else, hashing included: an oversized token costs nothing.
    if (token.length > this.options.maxTokenBytes) return { ok: false, reason: 'token_too_large' };
    const cacheKey = TokenCache.keyOf(token);
    const opaque = this.opaque.routeFor(token, location);
    if (opaque) return this.opaque.verify(opaque, token, cacheKey);
    const hit = this.cache.get(cacheKey);
    if (hit) {
      const failure = this.recheck(hit, location);
      if (failure === undefined) return { ok: true, token: hit, cached: true };
      this.cache.delete(cacheKey);
      return { ok: false, reason: failure, provider: hit.provider };
    }
    return this.verifyAndCache(token, location, cacheKey);
  }

  private async verifyAndCache(token: string, location: TokenLocation, cacheKey: string): Promise<VerifyOutcome> {
    const outcome = await this.verifyUncached(token, location);
    if (outcome.ok) {
      const exp = outcome.token.claims.exp;
      if (typeof exp === 'number') this.cache.set(cacheKey, outcome.token, exp * 1000);
    }
    return outcome;
  }

  private async verifyUncached(token: string, location: TokenLocation): Promise<VerifyOutcome> {
    const decoded = decodeJws(token);
    if (!decoded.ok) return { ok: false, reason: decoded.reason };
    const { header, payload, signingInput, signature } = decoded.jws;

    // `iss` only chooses which provider's keys and rules apply; the signature check decides.
    const provider = typeof payload.iss === 'string' ? this.byIssuer.get(payload.iss) : undefined;
    if (!provider) return { ok: false, reason: 'unknown_issuer' };
    if (!provider.locationKeys.has(location.key)) return { ok: false, reason: 'token_location', provider };
    const cfg = provider.config;
    const { alg, kid } = header;
    if (typeof alg !== 'string' || !(cfg.algorithms as readonly string[] | undefined)?.includes(alg)) {
      return { ok: false, reason: 'unsupported_algorithm', provider };
    }
    if (kid !== undefined && typeof kid !== 'string') return { ok: false, reason: 'malformed_token', provider };
    // A token whose own claims already fail the time checks is denied without paying for its
    // signature: replaying an expired token must cost as little as possible.
    const now = this.nowSeconds();
    const early = timeFailure(payload, cfg, now);
    if (early) return { ok: false, reason: early, provider };
    if (!criticalExtensionsUnderstood(header)) return { ok: false, reason: 'malformed_token', provider };

    const key = await this.keyFor(provider, alg, kid);
    if (typeof key === 'string') return { ok: false, reason: key, provider };
    if (!(await verifySignature(alg, key.key, signingInput, signature))) return { ok: false, reason: 'invalid_signature', provider };
    // The clock is read again: fetching an unknown key can take seconds.
    const failure = claimsFailure(header, payload, cfg, this.nowSeconds());
    if (failure) return { ok: false, reason: failure, provider };
    return { ok: true, token: { provider, claims: payload, keyId: key.id, payloadBytes: token.length }, cached: false };
  }

  /** The provider's key for this header, or why there is none. */
  private async keyFor(
    provider: ProviderRuntime,
    alg: string,
    kid: string | undefined,
  ): Promise<{ id: string; key: KeyObject | Uint8Array } | TokenFailure> {
    if (alg.startsWith('HS')) return provider.hmacKey ? { id: HMAC_KEY_ID, key: provider.hmacKey } : 'unsupported_algorithm';
    if (!provider.keys) return 'unknown_key';
    try {
      return await provider.keys.getKey({ alg, kid });
    } catch (err) {
      if (!(err instanceof KeyError)) throw err;
      return err.code === 'keys_unavailable' ? 'keys_unavailable' : err.code === 'alg_mismatch' ? 'unsupported_algorithm' : 'unknown_key';
    }
  }

  /** Whole seconds, as jose counts them, so both agree on every boundary. */
  private nowSeconds(): number {
    return Math.floor(this.options.clock.now() / 1000);
  }

  /** What a cache hit must still pass: the key is still trusted, and the time claims still hold. */
  private recheck(hit: VerifiedToken, location: TokenLocation): TokenFailure | undefined {
    const { provider } = hit;
    if (!provider.locationKeys.has(location.key)) return 'token_location';
    if (hit.keyId !== HMAC_KEY_ID && !provider.keys?.isCurrent(hit.keyId)) return 'unknown_key';
    return timeFailure(hit.claims, provider.config, this.nowSeconds());
  }
}
