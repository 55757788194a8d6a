import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import { ScrapeCounter, ScrapeHistogram, type CounterSeries } from './scrape-metrics.js';

/**
 * The Check path's own metrics. Label values are bounded: decisions, reasons and provider and rule
 * names come from tollgate's code and the config, never from a request. Those counted on every Check
 * are scrape-time metrics (src/observability/scrape-metrics.ts): plain numbers until /metrics is read.
 */
export function createCheckMetrics(registry: Registry, state: { tokenCacheEntries: () => number }) {
  collectDefaultMetrics({ register: registry });
  const checks = new ScrapeCounter({
    name: 'tollgate_check_total',
    help: 'Check decisions by decision (allow|deny|dry_run_deny), reason, provider and rule.',
    labelNames: ['decision', 'reason', 'provider', 'rule'] as const,
    registers: [registry],
  });
  const tokenCache = new ScrapeCounter({
    name: 'tollgate_token_cache_total',
    help: 'Verified-token cache look-ups by result (hit|miss).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const rollout = new ScrapeCounter({
    name: 'tollgate_rollout_decisions_total',
    help: 'Decisions of rules with a rollout, by rule, arm (enforced|shadow) and what the rule decided (allow|deny; in the shadow arm a deny is allowed).',
    labelNames: ['rule', 'arm', 'outcome'] as const,
    registers: [registry],
  });
  return {
    /** Counts one decision. */
    check: childrenOf(checks, (decision: string, reason: string, provider: string, rule: string) => ({ decision, reason, provider, rule })),
    /** Counts one decision of a rule under rollout. */
    rollout: childrenOf(rollout, (rule: string, arm: string, outcome: string) => ({ rule, arm, outcome })),
    tokenCacheHit: tokenCache.labels({ result: 'hit' }),
    tokenCacheMiss: tokenCache.labels({ result: 'miss' }),
    duration: new ScrapeHistogram({
      name: 'tollgate_check_duration_seconds',
      help: 'Time to answer a Check, from request decoded to response ready.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    dryRunDenials: new ScrapeCounter({
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
    decisionLogDropped: new Counter({
      name: 'tollgate_decision_log_dropped_total',
      help: 'Decision log lines dropped because the queue was full (the sink could not keep up) or the sink failed.',
      registers: [registry],
    }),
    logDenialsSkipped: new Counter({
      name: 'tollgate_log_denials_skipped_total',
      help: 'Denial lines left out of the ordinary log past log.denialsPerSecond (the denials are still counted in tollgate_check_total).',
      registers: [registry],
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

/**
 * Increments a labelled counter given its label values in order, without building a label object per
 * call. Label values come from code and config, so the memo stays small.
 */
function childrenOf<L extends string, A extends string[]>(counter: ScrapeCounter<L>, labels: (...values: A) => Record<L, string>): (...values: A) => void {
  const children = new Map<string, CounterSeries>();
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
