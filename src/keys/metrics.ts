import { Counter, Gauge, type Registry } from 'prom-client';

export interface KeyMetrics {
  refreshes: Counter<'provider' | 'result'>;
  keys: Gauge<'provider'>;
  lastSuccess: Gauge<'provider'>;
  stale: Gauge<'provider'>;
}

// Several providers (managers) share a server's registry; prom-client refuses a second metric of
// the same name, so each registry gets the metrics once and managers label them by provider.
const byRegistry = new WeakMap<Registry, KeyMetrics>();

export function keyMetrics(registry: Registry): KeyMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    const registers = [registry];
    metrics = {
      refreshes: new Counter({
        name: 'tollgate_jwks_refresh_total',
        help: 'JWKS loads by result: success (new content), not_modified (same content), error',
        labelNames: ['provider', 'result'],
        registers,
      }),
      keys: new Gauge({ name: 'tollgate_jwks_keys', help: 'Usable keys in the current set', labelNames: ['provider'], registers }),
      lastSuccess: new Gauge({
        name: 'tollgate_jwks_last_success_timestamp_seconds',
        help: 'When the key set was last loaded successfully',
        labelNames: ['provider'],
        registers,
      }),
      stale: new Gauge({
        name: 'tollgate_jwks_stale',
        help: '1 while the last refresh failed and an older key set is served (or withheld past maxStaleSeconds)',
        labelNames: ['provider'],
        registers,
      }),
    };
    byRegistry.set(registry, metrics);
  }
  return metrics;
}
