import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';

/** Which listener a check came in on: gRPC Check, or the HTTP authorization port. */
export type Transport = 'grpc' | 'http';

/**
 * The Check path's own metrics. Label values are bounded: decisions, reasons and provider and rule
 * names come from tollgate's code and the config, never from a request.
 */
export function createCheckMetrics(registry: Registry, state: { tokenCacheEntries: () => number }) {
  collectDefaultMetrics({ register: registry });
  const checks = new Counter({
    name: 'tollgate_check_total',
    help: 'Check decisions by decision (allow|deny|dry_run_deny), reason, provider, rule and transport (grpc|http).',
    labelNames: ['decision', 'reason', 'provider', 'rule', 'transport'] as const,
    registers: [registry],
  });
  const tokenCache = new Counter({
    name: 'tollgate_token_cache_total',
    help: 'Verified-token cache look-ups by result (hit|miss).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return {
    /** Counts one decision. */
    check: childrenOf(checks, (decision: string, reason: string, provider: string, rule: string, transport: Transport) => ({ decision, reason, provider, rule, transport })),
    tokenCacheHit: tokenCache.labels({ result: 'hit' }),
    tokenCacheMiss: tokenCache.labels({ result: 'miss' }),
    /** Bound once per transport: a label look-up per observation shows on the hot path. */
    duration: byTransport(
      new Histogram({
        name: 'tollgate_check_duration_seconds',
        help: 'Time to answer a Check by transport (grpc|http), from request decoded to response ready.',
        labelNames: ['transport'] as const,
        buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
        registers: [registry],
      }),
    ),
    dryRunDenials: new Counter({
      name: 'tollgate_dry_run_denials_total',
      help: 'Requests a dry-run rule would have denied, allowed instead.',
      labelNames: ['rule'] as const,
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

function byTransport(histogram: Histogram<'transport'>): Record<Transport, { observe(seconds: number): void }> {
  return { grpc: histogram.labels({ transport: 'grpc' }), http: histogram.labels({ transport: 'http' }) };
}

/**
 * Increments a labelled counter through children bound once per label combination: prom-client hashes
 * a label object on every `inc`, which shows on the Check hot path. Label values come from code and
 * config, so the memo stays small.
 */
function childrenOf<L extends string, A extends string[]>(counter: Counter<L>, labels: (...values: A) => Record<L, string>): (...values: A) => void {
  const children = new Map<string, { inc(): void }>();
  return (...values: A) => {
    const key = values.join('\u0000');
    let child = children.get(key);
    if (!child) {
      child = counter.labels(labels(...values));
      children.set(key, child);
    }
    child.inc();
  };
}
