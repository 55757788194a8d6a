import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * The Check path's own metrics. Label values are bounded: decisions, reasons and provider and rule
 * names come from tollgate's code and the config, never from a request.
 */
export function createCheckMetrics(registry: Registry, state: { tokenCacheEntries: () => number }) {
  collectDefaultMetrics({ register: registry });
  return {
    checks: new Counter({
      name: 'tollgate_check_total',
      help: 'Check decisions by decision (allow|deny|dry_run_deny), reason, provider and rule.',
      labelNames: ['decision', 'reason', 'provider', 'rule'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'tollgate_check_duration_seconds',
      help: 'Time to answer a Check, from request decoded to response ready.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    dryRunDenials: new Counter({
      name: 'tollgate_dry_run_denials_total',
      help: 'Requests a dry-run rule would have denied, allowed instead.',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    tokenCache: new Counter({
      name: 'tollgate_token_cache_total',
      help: 'Verified-token cache look-ups by result (hit|miss).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    tokenCacheEntries: new Gauge({
      name: 'tollgate_token_cache_entries',
      help: 'Verified tokens currently cached.',
      registers: [registry],
      collect() {
        this.set(state.tokenCacheEntries());
      },
    }),
    configReloads: new Counter({
      name: 'tollgate_config_reload_total',
      help: 'Config reloads by result (success|error).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}

export type CheckMetrics = ReturnType<typeof createCheckMetrics>;
