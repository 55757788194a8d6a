import type { ProviderConfig } from '../config/providers.js';
import type { TokenFailure } from '../reasons.js';
import { MAX_VALUE_LENGTH } from '../revocation/entries.js';

/**
 * The JWT checks made once the signature holds (RFC 7519 §7.2), in jose.jwtVerify's order and with
 * its rules, so every boundary and every reason stays as it was while tollgate verified through jose
 * (test/pipeline/jose-parity.test.ts holds the two side by side). `iss` is not compared here: the
 * provider was chosen by it.
 */
export function claimsFailure(
  header: Readonly<Record<string, unknown>>,
  claims: Readonly<Record<string, unknown>>,
  config: ProviderConfig,
  now: number,
): TokenFailure | undefined {
  if (config.typ !== undefined && (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(config.typ))) {
    return 'invalid_type';
  }
  // Presence first, the last-listed requirement first (jose's order, so the reason matches).
  const required = [...config.requiredClaims];
  if (config.maxTokenAgeSeconds !== undefined) required.push('iat');
  required.push('aud');
  for (const claim of new Set(required.reverse())) {
    if (!Object.hasOwn(claims, claim)) return claim === 'aud' ? 'invalid_audience' : 'invalid_claims';
  }
  if (!audienceAccepted(claims.aud, config.audiences ?? [])) return 'invalid_audience';

  // Time claims that are not numbers are invalid, whichever claim; jose checks nbf before exp's type.
  // Unlike jose, a number must be finite: `"exp": 1e400` parses as Infinity, a token that never expires.
  const { iat, nbf, exp } = claims;
  if (!isOptionalNumber(iat) || !isOptionalNumber(nbf)) return 'invalid_claims';
  if (nbf !== undefined && nbf > now + config.clockSkewSeconds) return 'not_yet_valid';
  if (!isOptionalNumber(exp)) return 'invalid_claims';
  const late = timeFailure(claims, config, now);
  if (late) return late;
  // An `iat` in the future (beyond the skew) only matters where the token's age is bounded, as in jose.
  if (config.maxTokenAgeSeconds !== undefined && iat !== undefined && iat > now + config.clockSkewSeconds) return 'invalid_claims';
  // Last, so every reason jose gives is still given first (the parity test's one addition to jose).
  if (!identifiersRevocable(claims)) return 'invalid_claims';
  return undefined;
}

/** The claims a revocation names a token by (the revocation store's `type`s). */
const IDENTIFIER_CLAIMS = ['sub', 'jti', 'sid'] as const;

/**
 * `sub`, `jti` and `sid`, when present, are strings a revocation can name: 1 to MAX_VALUE_LENGTH
 * characters, as the admin API accepts them. RFC 7519 makes `sub` a StringOrURI and `jti` a string,
 * and OIDC makes `sid` one; jose checks their type only when asked for an expected value. A token
 * with `"sub": 67890` would otherwise be allowed while `{"type":"sub","value":"67890"}` could never
 * match it (and `"67890"` is the only form the admin API takes), so it is refused here, once, and
 * every later stage (revocation, context sources, minting, logs) sees one type and one text.
 */
export function identifiersRevocable(claims: Readonly<Record<string, unknown>>): boolean {
  return IDENTIFIER_CLAIMS.every((name) => {
    const value = claims[name];
    return value === undefined || (typeof value === 'string' && value.length > 0 && value.length <= MAX_VALUE_LENGTH);
  });
}

/**
 * `nbf`, `exp` and `maxTokenAgeSeconds` against `now` (whole seconds, as jose counts), with the
 * provider's skew; claims that are absent or not numbers are claimsFailure's business. Cheap, so it
 * also runs before the signature (replaying an expired token costs no verification) and on every
 * cache hit.
 */
export function timeFailure(claims: Readonly<Record<string, unknown>>, config: ProviderConfig, now: number): TokenFailure | undefined {
  const skew = config.clockSkewSeconds;
  if (typeof claims.nbf === 'number' && claims.nbf > now + skew) return 'not_yet_valid';
  if (typeof claims.exp === 'number' && claims.exp <= now - skew) return 'expired';
  const maxAge = config.maxTokenAgeSeconds;
  if (maxAge !== undefined && typeof claims.iat === 'number' && now - claims.iat - skew > maxAge) return 'token_too_old';
  return undefined;
}

export function isOptionalNumber(value: unknown): value is number | undefined {
  return value === undefined || Number.isFinite(value);
}

/** RFC 7519 §4.1.3 as jose applies it: a string, or an array, naming at least one accepted audience. */
export function audienceAccepted(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  return Array.isArray(aud) && accepted.some((a) => aud.includes(a));
}

/** `typ` compared as a media type (RFC 7515 §4.1.9): case-insensitive, `application/` implied. */
function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return value.includes('/') ? lower : `application/${lower}`;
}
