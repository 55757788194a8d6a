import type { ProviderConfig } from '../config/providers.js';
import type { TokenFailure } from '../reasons.js';
import { audienceAccepted, isOptionalNumber, timeFailure } from './claims.js';

/** A required claim the claims lack: `invalid_claims`, as for a JWT. */
export function missingClaim(claims: Readonly<Record<string, unknown>>, config: ProviderConfig): TokenFailure | undefined {
  return config.requiredClaims.every((claim) => Object.hasOwn(claims, claim)) ? undefined : 'invalid_claims';
}

/**
 * The checks on an introspection response's members once it said `active: true`: run on every Check,
 * cache hits included, because time moves and the cache may hold a response a little longer than a
 * second. The JWT rules, except that `aud` and `iss` are optional in RFC 7662: `iss` must equal the
 * provider's `issuer` when one is configured, and an `aud` that is present must name an audience.
 */
export function introspectedClaimsFailure(
  claims: Readonly<Record<string, unknown>>,
  config: ProviderConfig,
  now: number,
): TokenFailure | undefined {
  const missing = missingClaim(claims, config);
  if (missing) return missing;
  if (config.issuer !== undefined && claims.iss !== config.issuer) return 'unknown_issuer';
  if (claims.aud !== undefined && !audienceAccepted(claims.aud, config.audiences ?? [])) return 'invalid_audience';
  const { iat, nbf, exp } = claims;
  if (!isOptionalNumber(iat) || !isOptionalNumber(nbf) || !isOptionalNumber(exp)) return 'invalid_claims';
  const late = timeFailure(claims, config, now);
  if (late) return late;
  if (config.maxTokenAgeSeconds !== undefined && iat !== undefined && iat > now + config.clockSkewSeconds) return 'invalid_claims';
  return undefined;
}
