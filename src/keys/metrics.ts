import { Counter, Gauge, type Registry } from 'prom-client';

/** Where a provider's keys stand: the states the key metrics and /readyz report. */
export type KeyState = 'never_loaded' | 'fresh' | 'stale' | 'withheld';
export const KEY_STATES: readonly KeyState[] = ['never_loaded', 'fresh', 'stale', 'withheld'];

export interface KeyMetricsView {
  state: KeyState;
  /** Keys getKey may use now: 0 before the first load and once the set is withheld. */
  keys: number;
  lastSuccessMs?: number;
}

export interface KeyMetrics {
  refreshes: Counter<'provider' | 'result'>;
  /**
   * Reports `provider` from `view` at every scrape (time alone turns stale keys into withheld ones)
   * and creates its refresh series at 0. Returns the function that takes it off again.
   */
  track(provider: string, view: () => KeyMetricsView): () => void;
}

const REFRESH_RESULTS = ['success', 'not_modified', 'error'] as const;

// Several providers (managers) share a server's registry; prom-client refuses a second metric of
// the same name, so each registry gets the metrics once and managers label them by provider.
const byRegistry = new WeakMap<Registry, KeyMetrics>();

export function keyMetrics(registry: Registry): KeyMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    metrics = createKeyMetrics(registry);
    byRegistry.set(registry, metrics);
  }
  return metrics;
}

function createKeyMetrics(registry: Registry): KeyMetrics {
  const registers = [registry];
  const tracked = new Map<string, () => KeyMetricsView>();
  /** A gauge computed at scrape time from every tracked provider; removed providers leave no series. */
  const gauge = (name: string, help: string, labelNames: string[], set: (g: Gauge, provider: string, view: KeyMetricsView) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [provider, view] of tracked) set(this, provider, view());
      },
    });
  gauge('tollgate_jwks_keys', 'Keys usable now (0 before the first load and while the set is withheld)', ['provider'], (g, provider, v) =>
    g.set({ provider }, v.keys),
  );
  gauge(
    'tollgate_jwks_last_success_timestamp_seconds',
    'When the key set was last loaded successfully (0: never)',
    ['provider'],
    (g, provider, v) => g.set({ provider }, (v.lastSuccessMs ?? 0) / 1000),
  );
  gauge(
    'tollgate_jwks_stale',
    '1 unless a freshly loaded key set is served: never loaded, refreshes failing, or withheld past maxStaleSeconds',
    ['provider'],
    (g, provider, v) => g.set({ provider }, v.state === 'fresh' ? 0 : 1),
  );
  gauge(
    'tollgate_jwks_state',
    'The key state (never_loaded, fresh, stale, withheld): 1 for the current one, 0 for the others',
    ['provider', 'state'],
    (g, provider, v) => {
      for (const state of KEY_STATES) g.set({ provider, state }, v.state === state ? 1 : 0);
    },
  );
  const refreshes = new Counter({
    name: 'tollgate_jwks_refresh_total',
    help: 'JWKS loads by result: success (new content), not_modified (same content), error',
    labelNames: ['provider', 'result'],
    registers,
  });
  return {
    refreshes,
    track(provider, view) {
      tracked.set(provider, view);
      for (const result of REFRESH_RESULTS) refreshes.inc({ provider, result }, 0);
      // A replacement manager for the same provider may have taken the name over before this one stops.
      return () => {
        if (tracked.get(provider) === view) tracked.delete(provider);
      };
    },
  };
}
