import { jwtVerify, errors, type JWTPayload, type JWSHeaderParameters, type CryptoKey, type KeyObject } from 'jose';
import type { ProviderConfig } from '../config/providers.js';
import type { KeyManager } from '../keys/index.js';
import { KeyError } from '../keys/index.js';
import type { ClaimPath } from '../util/claim-path.js';
import type { Clock } from '../util/clock.js';
import type { TokenLocation } from './extract.js';
import { precheckJws } from './jws-precheck.js';
import type { TokenFailure } from './reasons.js';
import { TokenCache } from './token-cache.js';

/** A provider ready to verify: its config, where its keys come from, and where its tokens travel. */
export interface ProviderRuntime {
  config: ProviderConfig;
  /** Asymmetric keys (JWKS). */
  keys?: KeyManager;
  /** Shared secret for HS* algorithms. */
  hmacKey?: Uint8Array;
  /** `TokenLocation.key`s this provider's tokens may arrive in. */
  locationKeys: ReadonlySet<string>;
  /** `claimToHeaders` with claim paths split once, at load. */
  claimHeaders: ReadonlyArray<{ header: string; claim: ClaimPath }>;
}

export interface VerifiedToken {
  provider: ProviderRuntime;
  claims: JWTPayload;
  /** Id of the key that verified the signature; `hmac` for a shared secret. */
  keyId: string;
  payloadBytes: number;
}

export type VerifyOutcome =
  | { ok: true; token: VerifiedToken; cached: boolean }
  | { ok: false; reason: TokenFailure; provider?: ProviderRuntime };

const HMAC_KEY_ID = 'hmac';

export class TokenVerifier {
  private readonly byIssuer: Map<string, ProviderRuntime>;
  private readonly cache: TokenCache;

  constructor(
    providers: readonly ProviderRuntime[],
    private readonly options: { maxTokenBytes: number; clock: Clock; cacheEntries: number },
  ) {
    this.byIssuer = new Map(providers.map((p) => [p.config.issuer, p]));
    this.cache = new TokenCache(options.cacheEntries);
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  async verify(token: string, location: TokenLocation): Promise<VerifyOutcome> {
    // Before anything else, hashing included: an oversized token costs nothing.
    if (token.length > this.options.maxTokenBytes) return { ok: false, reason: 'token_too_large' };
    const cacheKey = TokenCache.keyOf(token);
    const hit = this.cache.get(cacheKey);
    if (hit) {
      const failure = this.recheck(hit, location);
      if (failure === undefined) return { ok: true, token: hit, cached: true };
      this.cache.delete(cacheKey);
      return { ok: false, reason: failure, provider: hit.provider };
    }
    const outcome = await this.verifyUncached(token, location);
    if (outcome.ok) {
      const exp = outcome.token.claims.exp;
      if (typeof exp === 'number') this.cache.set(cacheKey, outcome.token, exp * 1000, this.options.clock.now());
    }
    return outcome;
  }

  private async verifyUncached(token: string, location: TokenLocation): Promise<VerifyOutcome> {
    const pre = precheckJws(token);
    if (!pre.ok) return { ok: false, reason: pre.reason };
    const { header, payload } = pre.decoded;

    // `iss` only chooses which provider's keys and rules apply; the signature check decides.
    const provider = typeof payload.iss === 'string' ? this.byIssuer.get(payload.iss) : undefined;
    if (!provider) return { ok: false, reason: 'unknown_issuer' };
    if (!provider.locationKeys.has(location.key)) return { ok: false, reason: 'token_location', provider };
    const cfg = provider.config;
    if (typeof header.alg !== 'string' || !(cfg.algorithms as readonly string[]).includes(header.alg)) {
      return { ok: false, reason: 'unsupported_algorithm', provider };
    }
    // A token whose own claims already fail the time checks is denied without paying for its
    // signature: replaying an expired token must cost as little as possible. jose repeats every check.
    const early = timeFailure(payload, cfg, this.nowSeconds());
    if (early) return { ok: false, reason: early, provider };

    let keyId: string | undefined;
    try {
      const { payload: claims } = await jwtVerify(
        token,
        async (protectedHeader: JWSHeaderParameters): Promise<CryptoKey | KeyObject | Uint8Array> => {
          const alg = protectedHeader.alg ?? '';
          if (alg.startsWith('HS')) {
            if (!provider.hmacKey) throw new KeyError('alg_mismatch', 'no shared secret for this provider');
            keyId = HMAC_KEY_ID;
            return provider.hmacKey;
          }
          if (!provider.keys) throw new KeyError('unknown_key', 'provider has no key set');
          const found = await provider.keys.getKey({ alg, kid: protectedHeader.kid });
          keyId = found.id;
          return found.key;
        },
        {
          issuer: cfg.issuer,
          audience: cfg.audiences,
          algorithms: cfg.algorithms,
          clockTolerance: cfg.clockSkewSeconds,
          currentDate: new Date(this.options.clock.now()),
          maxTokenAge: cfg.maxTokenAgeSeconds,
          requiredClaims: cfg.requiredClaims,
          typ: cfg.typ,
        },
      );
      const token_: VerifiedToken = { provider, claims, keyId: keyId ?? HMAC_KEY_ID, payloadBytes: token.length };
      return { ok: true, token: token_, cached: false };
    } catch (err) {
      return { ok: false, reason: failureOf(err), provider };
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

/** `exp`, `nbf` and `maxTokenAgeSeconds` against `now` (seconds), with the provider's skew; jose's rules. */
function timeFailure(claims: Readonly<Record<string, unknown>>, config: ProviderConfig, now: number): TokenFailure | undefined {
  const skew = config.clockSkewSeconds;
  if (typeof claims.exp === 'number' && claims.exp <= now - skew) return 'expired';
  if (typeof claims.nbf === 'number' && claims.nbf > now + skew) return 'not_yet_valid';
  const maxAge = config.maxTokenAgeSeconds;
  if (maxAge !== undefined && typeof claims.iat === 'number' && claims.iat < now - maxAge - skew) return 'token_too_old';
  return undefined;
}

/** Maps jose's and the key manager's error classes to tollgate's reasons. */
function failureOf(err: unknown): TokenFailure {
  if (err instanceof KeyError) return err.code === 'keys_unavailable' ? 'keys_unavailable' : err.code === 'alg_mismatch' ? 'unsupported_algorithm' : 'unknown_key';
  // jose reports both an expired `exp` and a too-old `iat` (maxTokenAge) as JWTExpired.
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? 'token_too_old' : 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    // 'invalid': the claim has the wrong type (`"exp": "1700000000"`), whichever claim it is.
    if (err.reason === 'invalid') return 'invalid_claims';
    switch (err.claim) {
      case 'nbf':
        return 'not_yet_valid';
      case 'aud':
        return 'invalid_audience';
      case 'typ':
        return 'invalid_type';
      default:
        return 'invalid_claims';
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'invalid_signature';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'unsupported_algorithm';
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown_key';
  // JWSInvalid, JWTInvalid, JOSENotSupported (unknown crit, b64:false), key import failures.
  return 'malformed_token';
}
