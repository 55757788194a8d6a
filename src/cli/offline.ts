/**
 * Offline decisions for `tollgate check` and `tollgate test`: a request described by hand goes through
 * the server's own pipeline (`decide`) and response builder, so what they report is what `serve` does.
 * Revocations are not consulted: they live in the running servers' store.
 */
import { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { silentLogger } from '../observability/logger.js';
import type { Decision } from '../policy/index.js';
import type { RequestView } from '../pipeline/request.js';
import { toCheckResponse, type Outcome } from '../pipeline/respond.js';
import type { ProviderRuntime, VerifiedToken } from '../pipeline/verify.js';
import { decide } from '../pipeline/decide.js';
import { tokenLocations } from '../pipeline/extract.js';
import { looksLikeJws } from '../pipeline/jws.js';
import { identifiersRevocable } from '../pipeline/claims.js';
import type { CheckResponse } from '../envoy/types.js';
import { buildRuntime, type Runtime } from '../server/runtime.js';
import { systemClock } from '../util/clock.js';

/** An offline request that the config cannot take; `field` is `token` or `provider`. */
export class OfflineInputError extends Error {
  constructor(
    readonly field: 'token' | 'provider' | 'claims',
    message: string,
  ) {
    super(message);
  }
}

export interface OfflineRequest {
  view: RequestView;
  /** A JWT, verified against the configured keys like a request's token. */
  token?: string;
  /** Claims taken as already verified by `provider` (or the only provider). */
  claims?: Record<string, unknown>;
  /** With claims: who verified them; with a token: whose place it is sent in. */
  provider?: string;
}

export interface OfflineDecision {
  view: RequestView;
  outcome: Outcome;
  /** The policy's decision, when the policy was consulted (not when the token was refused). */
  decision?: Decision;
  response: CheckResponse;
  /** True when the claims were taken as verified rather than from a token. */
  preset: boolean;
}

/** A runtime that logs nothing and reports to a registry of its own; its keys load on `start()`. */
export function offlineRuntime(config: Config): Runtime {
  return buildRuntime(config, { logger: silentLogger(), registry: new Registry(), clock: systemClock });
}

/** Throws OfflineInputError for a token or provider the config cannot take. */
export async function decideOffline(
  runtime: Runtime,
  request: OfflineRequest,
  onUnsafeClaim: (header: string, claim: string) => void,
): Promise<OfflineDecision> {
  const view = request.token !== undefined ? withToken(request.view, runtime, request.token, request.provider) : request.view;
  const preset = request.claims ? presetToken(runtime, request.claims, request.provider) : undefined;
  const { outcome, decision } = await decide(runtime, view, { explain: true, presetToken: preset });
  const response = toCheckResponse(outcome, view, {
    identityHeaders: runtime.identityHeaders,
    realm: runtime.config.realm,
    dpop: runtime.dpopChallenge,
    onUnsafeClaim,
  });
  return { view, outcome, decision, response, preset: preset !== undefined };
}

/**
 * The token travels where a client would send it: where the named provider reads tokens; without a
 * name, a JWT where the first configured location expects it, any other token (opaque, an API key)
 * where the first introspection or apiKeys provider reads.
 */
function withToken(view: RequestView, runtime: Runtime, token: string, providerName: string | undefined): RequestView {
  const chosen =
    providerName !== undefined
      ? providerNamed(runtime, providerName)
      : looksLikeJws(token)
        ? undefined
        : runtime.providers.find((p) => p.introspector ?? p.apiKeys);
  const location = chosen ? tokenLocations([chosen.config])[0] : runtime.locations[0];
  if (!location) throw new OfflineInputError('token', 'the config has no provider to verify it');
  const headers = new Map(view.headers);
  switch (location.kind) {
    case 'header':
      headers.set(location.name, [`${location.prefix}${token}`]);
      return { ...view, headers };
    case 'cookie':
      headers.set('cookie', [`${location.name}=${token}`]);
      return { ...view, headers };
    case 'param':
      return { ...view, path: `${view.path}${view.path.includes('?') ? '&' : '?'}${location.name}=${encodeURIComponent(token)}` };
  }
}

/** Preset claims stand for a token the named (or only) provider verified. */
function presetToken(runtime: Runtime, claims: Record<string, unknown>, providerName: string | undefined): VerifiedToken {
  const providers = runtime.providers;
  if (providerName === undefined && providers.length !== 1) {
    const names = providers.map((p) => p.config.name).join(', ') || 'none configured';
    throw new OfflineInputError('provider', `a provider name is needed with claims (providers: ${names})`);
  }
  // The same rule as verification: explaining a decision for claims `serve` would refuse explains nothing.
  if (!identifiersRevocable(claims))
    throw new OfflineInputError('claims', 'sub, jti and sid must be non-empty strings (as a token must carry them)');
  const provider = providerName === undefined ? providers[0]! : providerNamed(runtime, providerName);
  return { provider, claims, keyId: 'claims', payloadBytes: 0 };
}

function providerNamed(runtime: Runtime, name: string): ProviderRuntime {
  const provider = runtime.providers.find((p) => p.config.name === name);
  if (provider) return provider;
  const names = runtime.providers.map((p) => p.config.name).join(', ') || 'none configured';
  throw new OfflineInputError('provider', `${name}: no such provider (providers: ${names})`);
}
