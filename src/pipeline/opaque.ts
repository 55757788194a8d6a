import type { ApiKeyStore, IntrospectionAnswer, Introspector } from '../opaque/index.js';
import type { Clock } from '../util/clock.js';
import { ConfigError } from '../util/config-error.js';
import type { TokenLocation } from './extract.js';
import { looksLikeJws } from './jws.js';
import { introspectedClaimsFailure, missingClaim } from './opaque-claims.js';
import type { ProviderRuntime, VerifiedToken, VerifyOutcome } from './verify.js';

/** An opaque-token provider with the part that answers for its tokens. */
type OpaqueRoute =
  | { provider: ProviderRuntime; apiKeys: ApiKeyStore; introspector?: undefined }
  | { provider: ProviderRuntime; introspector: Introspector; apiKeys?: undefined };

/**
 * Tokens that are not JWTs: opaque access tokens (an introspection provider) and API keys. A token
 * with a compact JWS's shape still goes to its provider by `iss`; any other token goes to the opaque
 * provider that reads the place it came from, so each such place has at most one.
 */
export class OpaqueTokens {
  private readonly byLocation = new Map<string, OpaqueRoute>();
  /**
   * One VerifiedToken per cached introspection response or API key entry: the same object on every
   * Check, as for a cached JWT, so the gRPC transport's prepared allows (keyed by it) apply.
   */
  private readonly verified = new WeakMap<object, VerifiedToken>();

  constructor(
    providers: readonly ProviderRuntime[],
    private readonly clock: Clock,
  ) {
    for (const provider of providers) {
      const { apiKeys, introspector } = provider;
      const route = apiKeys ? { provider, apiKeys } : introspector ? { provider, introspector } : undefined;
      if (!route) continue;
      for (const key of provider.locationKeys) {
        const other = this.byLocation.get(key);
        if (other) {
          throw new ConfigError([
            `providers: ${JSON.stringify(other.provider.config.name)} and ${JSON.stringify(provider.config.name)} both read opaque tokens from ${key}: give each introspection or apiKeys provider its own token location`,
          ]);
        }
        this.byLocation.set(key, route);
      }
    }
  }

  /** Who answers for `token`, when it is not a JWS and came from an opaque provider's place. */
  routeFor(token: string, location: TokenLocation): OpaqueRoute | undefined {
    if (this.byLocation.size === 0) return undefined;
    const route = this.byLocation.get(location.key);
    return route && !looksLikeJws(token) ? route : undefined;
  }

  /** `digest` is the token's SHA-256 (base64url), the only form in which the token is ever kept. */
  verify(route: OpaqueRoute, token: string, digest: string): VerifyOutcome | Promise<VerifyOutcome> {
    const { provider } = route;
    if (route.apiKeys) return this.apiKey(provider, route.apiKeys, token, digest);
    const answer = route.introspector.answer(token, digest);
    return answer instanceof Promise
      ? answer.then((a) => this.introspected(provider, a, token.length, false))
      : this.introspected(provider, answer, token.length, true);
  }

  private introspected(provider: ProviderRuntime, answer: IntrospectionAnswer, bytes: number, cached: boolean): VerifyOutcome {
    if (answer.kind === 'failure') return { ok: false, reason: 'introspection_failed', provider };
    if (answer.kind === 'inactive') return { ok: false, reason: 'inactive_token', provider };
    const failure = introspectedClaimsFailure(answer.claims, provider.config, Math.floor(this.clock.now() / 1000));
    if (failure) return { ok: false, reason: failure, provider };
    return { ok: true, token: this.tokenFor(answer.claims, answer.claims, provider, 'introspection', bytes), cached };
  }

  private apiKey(provider: ProviderRuntime, store: ApiKeyStore, token: string, digest: string): VerifyOutcome {
    const key = store.lookup(Buffer.from(digest, 'base64url'));
    if (key === 'unknown') return { ok: false, reason: 'unknown_api_key', provider };
    if (key === 'expired') return { ok: false, reason: 'expired', provider };
    const failure = missingClaim(key.claims, provider.config);
    if (failure) return { ok: false, reason: failure, provider };
    return { ok: true, token: this.tokenFor(key, key.claims, provider, `api-key:${key.id}`, token.length), cached: true };
  }

  /** `source` is what the token's identity lasts as long as: a cached response, or a loaded key entry. */
  private tokenFor(
    source: object,
    claims: VerifiedToken['claims'],
    provider: ProviderRuntime,
    keyId: string,
    bytes: number,
  ): VerifiedToken {
    let token = this.verified.get(source);
    if (!token) {
      token = { provider, claims, keyId, payloadBytes: bytes };
      this.verified.set(source, token);
    }
    return token;
  }
}
