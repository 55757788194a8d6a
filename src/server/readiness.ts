import type { ReadinessConfig } from '../config/readiness.js';
import type { KeyManagerStatus } from '../keys/index.js';
import type { RevocationStatus } from '../revocation/index.js';

export interface ReadinessCheck {
  ready: boolean;
  /** For a provider: its key state (never_loaded, fresh, stale, withheld) and usable key count. */
  keys?: KeyManagerStatus['state'];
  usableKeys?: number;
  /** Why it is or is not ready. Never holds secrets. */
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, ReadinessCheck>;
}

export interface ReadinessInputs {
  config: ReadinessConfig;
  draining: boolean;
  providers: ReadonlyArray<{ name: string; keys?: KeyManagerStatus }>;
  /** The TLS listeners' own checks (certificate loaded and not expired), by `tls:<listener>`. */
  listeners?: Record<string, ReadinessCheck>;
  revocation?: RevocationStatus;
}

/** What /readyz answers and the Authorization service's gRPC health follows. */
export function readinessOf({ config, draining, providers, listeners = {}, revocation }: ReadinessInputs): Readiness {
  const checks: Record<string, ReadinessCheck> = {};
  checks.serving = { ready: !draining, detail: draining ? 'draining for shutdown' : undefined };
  for (const { name, keys } of providers) {
    if (!keys) continue;
    checks[`provider:${name}`] = {
      ready: keys.ready || !config.requireProviderKeys,
      keys: keys.state,
      usableKeys: keys.keys,
      detail: keyDetail(keys),
    };
  }
  Object.assign(checks, listeners);
  if (revocation) {
    checks.revocation = {
      ready: revocation.synced && (revocation.ready || !config.requireRevocationStore),
      detail: revocationDetail(revocation),
    };
  }
  return { ready: Object.values(checks).every((c) => c.ready), checks };
}

function revocationDetail(revocation: RevocationStatus): string | undefined {
  if (!revocation.synced) return 'not synced with the store yet';
  if (revocation.up) return undefined;
  const since = `store unreachable for ${Math.round(revocation.stalenessSeconds)}s${revocation.ready ? '' : ', past maxStalenessSeconds'}`;
  return revocation.failingClosed
    ? `${since}; past failClosedAfterSeconds, tokens are refused (revocation_unavailable)`
    : `${since}; tokens are checked against the revocations last synced`;
}

function keyDetail(keys: KeyManagerStatus): string | undefined {
  const cause = keys.lastError ? `: ${keys.lastError}` : '';
  switch (keys.state) {
    case 'fresh':
      return undefined;
    case 'never_loaded':
      return `no key set loaded yet; this provider's tokens are refused${cause}`;
    case 'stale':
      return `refreshes failing; the last good key set is served${cause}`;
    case 'withheld':
      return `refreshes failed for longer than maxStaleSeconds; keys withheld, this provider's tokens are refused${cause}`;
  }
}
