import type { Config } from '../config/schema.js';
import type { ProviderConfig, SecretSource } from '../config/providers.js';
import { readSecretSource } from '../util/secret.js';
import { ConfigError } from '../util/config-error.js';
import { compileClaimPath, type ClaimPath } from '../util/claim-path.js';
import { ContextSources, contextMetricsOf } from '../context/index.js';
import { createKeyManager, type KeyManager } from '../keys/index.js';
import { ApiKeyStore, Introspector, opaqueMetricsOf } from '../opaque/index.js';
import type { Deps } from '../observability/deps.js';
import { compilePolicy, type Policy } from '../policy/index.js';
import { tokenLocations, type TokenLocation } from '../pipeline/extract.js';
import { IdentityHeaders, dpopChallengeOf, type DpopChallenge } from '../pipeline/respond.js';
import type { Clock } from '../util/clock.js';
import { TokenVerifier, type ProviderRuntime } from '../pipeline/verify.js';

/**
 * The config a runtime keeps: everything but the parsed rules, which live on compiled in `policy`. A
 * policy of 10,000 rules kept its parsed form too, 3.5 MB that nothing read after the compile.
 */
export type RuntimeConfig = Omit<Config, 'rules'>;

/**
 * Everything a Check needs, built once from one config. A reload builds a new Runtime and swaps it in;
 * a Check holds the Runtime it started with, so in-flight checks finish on the config they began with.
 */
export interface Runtime {
  config: RuntimeConfig;
  providers: ProviderRuntime[];
  locations: TokenLocation[];
  verifier: TokenVerifier;
  policy: Policy;
  /** Caches are per runtime: a reload starts them empty. */
  contextSources: ContextSources;
  viewAs: Config['viewAs'];
  identityHeaders: IdentityHeaders;
  /** The DPoP challenge of 401s, when some provider accepts DPoP. */
  dpopChallenge: DpopChallenge | undefined;
  clock: Clock;
  /** The key managers, by what they fetch: a reload keeps the ones whose key source is unchanged. */
  keyManagers: ReadonlyMap<string, KeyManager>;
  /** Starts new key managers; resolves when each made its first attempt. */
  start(): Promise<void>;
  /** Stops the key managers, except those the successor runtime took over. */
  stop(successor?: Runtime): void;
}

/** HMAC secrets shorter than the hash output are guessable offline (RFC 7518 §3.2). */
const MIN_HMAC_SECRET_BYTES = 32;

/**
 * Builds a Runtime. With `previous`, key managers whose provider fetches the same keys the same way
 * are carried over rather than recreated: a reload during an identity-provider outage keeps the last
 * good keys (and their staleness clock) instead of starting from nothing.
 */
export function buildRuntime(config: Config, deps: Deps, previous?: Runtime): Runtime {
  const { rules, ...runtimeConfig } = config;
  const policy = compilePolicy(rules, { defaultDecision: config.defaultDecision, dryRun: config.dryRun });
  const keyManagers = keyManagersFor(config.providers, deps, previous?.keyManagers);
  const providers = config.providers.map((p, i) => {
    const identity = keySourceIdentity(p);
    return { ...buildProviderRuntime(p, i, identity === undefined ? undefined : keyManagers.get(identity)), ...opaqueParts(p, i, deps) };
  });
  const apiKeyStores = providers.flatMap((p) => (p.apiKeys ? [p.apiKeys] : []));
  const verifier = new TokenVerifier(providers, {
    maxTokenBytes: config.limits.maxTokenBytes,
    clock: deps.clock,
    cacheEntries: config.tokenCache.maxEntries,
  });
  return {
    config: runtimeConfig,
    providers,
    locations: tokenLocations(config.providers),
    verifier,
    policy,
    contextSources: new ContextSources(config.contextSources, deps.clock, contextMetricsOf(deps.registry), deps.logger),
    viewAs: config.viewAs,
    identityHeaders: new IdentityHeaders(config),
    dpopChallenge: dpopChallengeOf(config.providers),
    clock: deps.clock,
    keyManagers,
    start: async () => {
      // start() is idempotent: managers carried over from the previous runtime return at once.
      await Promise.all([...[...keyManagers.values()].map((m) => m.start()), ...apiKeyStores.map((s) => s.start())]);
    },
    stop: (successor) => {
      const kept = new Set(successor?.keyManagers.values());
      for (const manager of keyManagers.values()) if (!kept.has(manager)) manager.stop();
      for (const store of apiKeyStores) store.stop();
    },
  };
}

/**
 * The key manager of each key source, the predecessor's where it has one for the same source. A
 * function of its own so that nothing of `previous` is reachable from the runtime being built: its
 * start/stop closures keep buildRuntime's scope alive, and a predecessor captured there would keep
 * every earlier runtime (caches, policy) alive too, one more per reload.
 */
function keyManagersFor(
  providers: readonly ProviderConfig[],
  deps: Deps,
  previous: ReadonlyMap<string, KeyManager> | undefined,
): Map<string, KeyManager> {
  const keyManagers = new Map<string, KeyManager>();
  for (const p of providers) {
    const identity = keySourceIdentity(p);
    if (identity === undefined || !p.jwks || keyManagers.has(identity)) continue;
    keyManagers.set(
      identity,
      previous?.get(identity) ??
        // The schema requires issuer and algorithms beside jwks.
        createKeyManager({ name: p.name, issuer: p.issuer ?? '', algorithms: p.algorithms ?? [], jwks: p.jwks }, deps),
    );
  }
  return keyManagers;
}

/** Everything a key manager's behaviour depends on; equal identities can share one manager. */
function keySourceIdentity(p: ProviderConfig): string | undefined {
  return p.jwks && JSON.stringify([p.name, p.issuer, p.algorithms, p.jwks]);
}

/** One provider's part of a Runtime: its keys, its HMAC secret (read now), where its tokens may come from. */
export function buildProviderRuntime(config: ProviderConfig, index: number, keys: KeyManager | undefined): ProviderRuntime {
  return {
    config,
    keys,
    hmacKey: config.hmacSecret ? readSecret(config.hmacSecret, `providers[${index}].hmacSecret`) : undefined,
    locationKeys: new Set(tokenLocations([config]).map((l) => l.key)),
    claimHeaders: config.claimToHeaders.map(({ header, claim }) => ({ header, claim: claimPath(claim) })),
  };
}

/**
 * What answers for an opaque-token provider's tokens. Each runtime has its own: a reload starts the
 * introspection cache empty (as the verified-token cache) and re-reads the API key file.
 */
function opaqueParts(config: ProviderConfig, index: number, deps: Deps): Pick<ProviderRuntime, 'introspector' | 'apiKeys'> {
  const { introspection, apiKeys } = config;
  if (apiKeys) return { apiKeys: new ApiKeyStore(config.name, apiKeys.file, deps) };
  if (!introspection) return {};
  const clientSecret = readSecretSource(introspection.clientSecret, `providers[${index}].introspection.clientSecret`);
  const endpoint = { ...introspection, clientSecret };
  const log = deps.logger.child({ component: 'introspection', provider: config.name });
  return {
    introspector: new Introspector({ ...introspection, provider: config.name }, endpoint, deps.clock, opaqueMetricsOf(deps.registry), log),
  };
}

function readSecret(source: SecretSource, field: string): Uint8Array {
  const bytes = Buffer.from(readSecretSource(source, field), 'utf8');
  if (bytes.length < MIN_HMAC_SECRET_BYTES) {
    throw new ConfigError([`${field}: the secret must be at least ${MIN_HMAC_SECRET_BYTES} bytes`]);
  }
  return new Uint8Array(bytes);
}

/** The schema already validated the path; compiling cannot fail here. */
function claimPath(source: string): ClaimPath {
  const compiled = compileClaimPath(source);
  if (!compiled.ok) throw new ConfigError([compiled.message]);
  return compiled.path;
}
