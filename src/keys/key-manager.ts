import type { Deps } from '../observability/deps.js';
import { noTracing } from '../observability/tracing.js';
import { JwksConfigError, KeyError } from './errors.js';
import { buildKeySet, lookup, type KeySet, type VerificationKey } from './key-set.js';
import { keyMetrics, type KeyState } from './metrics.js';
import type { JwksConfig } from './schema.js';
import { isSupportedAlgorithm } from './signature.js';
import { createSource } from './sources/index.js';
import { transportProblem } from './transport.js';
import { RefreshScheduler } from './refresh-scheduler.js';
import { UnknownKidLimiter } from './unknown-kid-limiter.js';
import { repeatLimiter } from '../util/repeat-limiter.js';

export interface KeyProvider {
  name: string;
  issuer: string;
  algorithms: string[];
  jwks: JwksConfig;
}

export interface KeyManagerStatus {
  provider: string;
  /** A key set is loaded and, if refreshes are failing, still within maxStaleSeconds. */
  ready: boolean;
  state: KeyState;
  /** Keys usable now (0 before the first load and while the set is withheld). */
  keys: number;
  /** The last refresh failed; the previous set is served (or withheld once maxStaleSeconds passed). */
  stale: boolean;
  lastSuccessMs?: number;
  lastError?: string;
}

export interface KeyManager {
  /** First load; resolves after the first attempt whether it succeeded or not. Starts timers and the file watch. */
  start(): Promise<void>;
  /** Stops timers and watchers and aborts in-flight fetches; idempotent. */
  stop(): void;
  /** Throws (rejects with) KeyError. A known key costs a map lookup: no I/O, no import. */
  getKey(header: { alg: string; kid?: string }): Promise<VerificationKey>;
  /** Whether the key is in the current trusted set (false once the set expired past maxStaleSeconds). */
  isCurrent(keyId: string): boolean;
  status(): KeyManagerStatus;
  /** Called after the set of trusted keys changed; returns unsubscribe. */
  onChange(listener: () => void): () => void;
  /** Load now: a load that starts after this call. Rejects when it fails; the last good set stays. */
  refresh(): Promise<void>;
}

const noop = (): void => {};

export function createKeyManager(provider: KeyProvider, deps: Deps): KeyManager {
  const { config, algorithms } = validate(provider);
  const source = createSource(provider.issuer, config);
  const { clock } = deps;
  const tracing = deps.tracing ?? noTracing;
  const log = deps.logger.child({ component: 'keys', provider: provider.name });
  const metrics = keyMetrics(deps.registry);
  const label = { provider: provider.name };
  const allowed = new Set(algorithms);
  const listeners = new Set<() => void>();
  const aborter = new AbortController();
  const scheduler = new RefreshScheduler(load);
  const unknownKids = new UnknownKidLimiter(clock, config.unknownKidCooldownSeconds * 1000);
  // The same refresh failure is logged at most once a minute (with the count of repeats).
  const limitRepeats = repeatLimiter(clock);

  let current: KeySet | undefined;
  let lastSuccessMs: number | undefined;
  let lastError: string | undefined;
  let failing = false;
  let unwatch: (() => void) | undefined;
  let untrack: (() => void) | undefined;

  /** The set getKey may use: none before the first load, none once failures outlast maxStaleSeconds. */
  function usable(): KeySet | undefined {
    if (failing && lastSuccessMs !== undefined && clock.now() >= lastSuccessMs + config.maxStaleSeconds * 1000) {
      return undefined;
    }
    return current;
  }

  function state(): KeyState {
    if (!current) return 'never_loaded';
    if (!usable()) return 'withheld';
    return failing ? 'stale' : 'fresh';
  }

  async function load(): Promise<void> {
    let nextSeconds = config.minRefreshSeconds; // retry delay after a failure
    try {
      const doc = await tracing.child('tollgate.jwks.fetch', () => source.load(aborter.signal), { 'tollgate.provider': provider.name });
      if (scheduler.isStopped) return;
      const unchanged = current?.text === doc.text;
      if (!unchanged) install(await buildKeySet(doc.text, algorithms));
      failing = false;
      lastError = undefined;
      lastSuccessMs = clock.now();
      metrics.refreshes.inc({ ...label, result: unchanged ? 'not_modified' : 'success' });
      nextSeconds = Math.min(Math.max(doc.maxAgeSeconds ?? config.refreshSeconds, config.minRefreshSeconds), config.maxRefreshSeconds);
    } catch (err) {
      if (scheduler.isStopped) return;
      failing = true;
      lastError = err instanceof Error ? err.message : String(err);
      metrics.refreshes.inc({ ...label, result: 'error' });
      const { log: say, repeated } = limitRepeats(lastError);
      if (say) {
        const consequence = current ? 'keeping the last good key set' : "no key set loaded yet: this provider's tokens are refused";
        log.warn({ source: source.description, err: lastError, ...(repeated ? { repeated } : {}) }, `jwks: refresh failed; ${consequence}`);
      }
      throw err;
    } finally {
      scheduler.schedule(nextSeconds);
    }
  }

  function install({ set, dropped }: Awaited<ReturnType<typeof buildKeySet>>): void {
    for (const { kid, reason } of dropped) log.warn({ kid, reason }, 'jwks: key ignored');
    const before = current?.ids ?? new Set<string>();
    const changed = before.size !== set.ids.size || [...set.ids].some((id) => !before.has(id));
    current = set;
    if (!changed) return;
    log.info({ keys: set.ids.size, source: source.description }, 'jwks: key set changed');
    for (const listener of listeners) {
      try {
        listener();
      } catch (err) {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'jwks: onChange listener threw');
      }
    }
  }

  /**
   * An unknown kid may mean the issuer rotated: refetch, as far as the limiter allows. A file source
   * never refetches: its directory watch already reports every change.
   */
  async function refetchFor(kid: string, alg: string): Promise<VerificationKey> {
    if (source.remote && unknownKids.admit(kid, scheduler.isLoading)) {
      await scheduler.join().catch(noop); // a failure is recorded by load(); the lookup below decides
      const set = usable();
      if (!set) throw unavailable();
      const hit = lookup(set, alg, kid);
      if (hit === 'alg_mismatch') throw mismatch(alg, kid);
      if (hit) return hit;
      unknownKids.remember(kid);
    }
    throw new KeyError('unknown_key', `${provider.name}: no key with kid ${quote(kid)}`);
  }

  const unavailable = () =>
    new KeyError('keys_unavailable', `${provider.name}: no usable key set${lastError ? ` (last error: ${lastError})` : ''}`);
  const mismatch = (alg: string, kid: string) =>
    new KeyError('alg_mismatch', `${provider.name}: key ${quote(kid)} does not fit alg ${quote(alg)}`);

  return {
    async start() {
      if (!scheduler.start()) return;
      untrack = metrics.track(provider.name, () => ({ state: state(), keys: usable()?.ids.size ?? 0, lastSuccessMs }));
      if (source.watch) {
        try {
          unwatch = source.watch(
            () => void scheduler.refresh().catch(noop),
            (err) => log.warn({ err: err.message }, 'jwks: file watch failed; relying on the refresh interval'),
          );
        } catch (err) {
          log.warn(
            { err: err instanceof Error ? err.message : String(err) },
            'jwks: cannot watch the key file; relying on the refresh interval',
          );
        }
      }
      await scheduler.refresh().catch(noop);
    },

    stop() {
      if (!scheduler.stop()) return;
      unwatch?.();
      untrack?.();
      aborter.abort();
    },

    getKey({ alg, kid }) {
      if (!allowed.has(alg)) {
        return Promise.reject(new KeyError('alg_mismatch', `${provider.name}: alg ${quote(alg)} is not allowed`));
      }
      const set = usable();
      if (!set) return Promise.reject(unavailable());
      if (kid === undefined) {
        const fits = set.byAlg.get(alg) ?? [];
        const only = fits.length === 1 ? fits[0] : undefined;
        if (only) return Promise.resolve(only);
        return Promise.reject(new KeyError('unknown_key', `${provider.name}: token has no kid and ${fits.length} keys fit ${quote(alg)}`));
      }
      const hit = lookup(set, alg, kid);
      if (hit === 'alg_mismatch') return Promise.reject(mismatch(alg, kid));
      if (hit) return Promise.resolve(hit);
      return refetchFor(kid, alg);
    },

    isCurrent(keyId) {
      return usable()?.ids.has(keyId) ?? false;
    },

    status() {
      return {
        provider: provider.name,
        ready: usable() !== undefined,
        state: state(),
        keys: usable()?.ids.size ?? 0,
        stale: failing && current !== undefined,
        lastSuccessMs,
        lastError,
      };
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    refresh: () => scheduler.refresh(),
  };
}

/** Token-supplied strings in messages: quoted and bounded, so a crafted header cannot flood or forge log lines. */
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/**
 * The provider's algorithms a JWKS can serve, after the checks that need more than the `jwks:` section
 * (which the config schema has parsed). HS* may sit beside them (a shared secret configured elsewhere
 * verifies those); here they simply never match a key. The transport is checked again: a config built
 * in code, without the schema, must not fetch keys over plain http either.
 */
function validate(provider: KeyProvider): { config: JwksConfig; algorithms: string[] } {
  const where = `provider ${JSON.stringify(provider.name)}`;
  const config = provider.jwks;
  const uriProblem = config.uri === undefined ? undefined : transportProblem(config.uri, config.allowInsecureHttp);
  if (uriProblem) throw new JwksConfigError(`${where}: jwks.uri: ${uriProblem}`);
  const algorithms = provider.algorithms.filter(isSupportedAlgorithm);
  if (algorithms.length === 0) {
    throw new JwksConfigError(
      `${where}: algorithms: none of [${provider.algorithms.join(', ')}] can be verified with JWKS keys (use RS*, PS*, ES*, EdDSA)`,
    );
  }
  if (config.discovery) {
    const problem = transportProblem(provider.issuer, config.allowInsecureHttp);
    if (problem) throw new JwksConfigError(`${where}: issuer (used for jwks discovery) ${problem}`);
  }
  return { config, algorithms };
}
