import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import { ScrapeCounter, ScrapeHistogram, type CounterSeries, type HistogramSeries } from './scrape-metrics.js';

/** Which listener a check came in on: gRPC Check, or the HTTP authorization port. */
export type Transport = 'grpc' | 'http';
import { VERSION } from '../version.js';

/**
 * The Check path's own metrics. Label values are bounded: decisions, reasons and provider and rule
 * names come from tollgate's code and the config, never from a request. Those counted on every Check
 * are scrape-time metrics (src/observability/scrape-metrics.ts): plain numbers until /metrics is read.
 */
export function createCheckMetrics(registry: Registry, state: { tokenCacheEntries: () => number; dpopReplayEntries?: () => number }) {
  collectDefaultMetrics({ register: registry });
  const checks = new ScrapeCounter({
    name: 'tollgate_check_total',
    help: 'Check decisions by decision (allow|deny|dry_run_deny), reason, provider, rule and transport (grpc|http).',
    labelNames: ['decision', 'reason', 'provider', 'rule', 'transport'] as const,
    registers: [registry],
  });
  const tokenCache = new ScrapeCounter({
    name: 'tollgate_token_cache_total',
    help: 'Verified-token cache look-ups by result (hit|miss).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'tollgate_build_info',
    help: 'Always 1; the labels say which tollgate and which Node.js runs.',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: VERSION, node: process.versions.node }, 1);
  const configReloads = new Counter({
    name: 'tollgate_config_reload_total',
    help: 'Config reloads by result (success|error).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  // Every series exists from the start at 0: a counter that appears only with its first event breaks
  // rate() alerts. (The cache counters below exist from their `labels()` on.)
  for (const result of ['success', 'error']) configReloads.inc({ result }, 0);
  const rollout = new ScrapeCounter({
    name: 'tollgate_rollout_decisions_total',
    help: 'Decisions of rules with a rollout, by rule, arm (enforced|shadow) and what the rule decided (allow|deny; in the shadow arm a deny is allowed).',
    labelNames: ['rule', 'arm', 'outcome'] as const,
    registers: [registry],
  });
  const bindingChecks = new ScrapeCounter({
    name: 'tollgate_binding_checks_total',
    help: 'Sender-constraint checks of verified tokens by kind (certificate|dpop|cnf) and result (ok, or the denial reason).',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  return {
    /** Counts one sender-constraint check (labels from tollgate's code only). */
    bindingCheck: childrenOf(bindingChecks, (kind: string, result: string) => ({ kind, result })),
    /** Records one presented token's size, by the provider it claims (`""` when unknown). */
    tokenSize: tokenSizeRecorder(registry),
    /** Counts one decision. */
    check: childrenOf(checks, (decision: string, reason: string, provider: string, rule: string, transport: Transport) => ({
      decision,
      reason,
      provider,
      rule,
      transport,
    })),
    /** Counts one decision of a rule under rollout. */
    rollout: childrenOf(rollout, (rule: string, arm: string, outcome: string) => ({ rule, arm, outcome })),
    tokenCacheHit: tokenCache.labels({ result: 'hit' }),
    tokenCacheMiss: tokenCache.labels({ result: 'miss' }),
    /** Bound once per transport, so an observation needs no label look-up. */
    duration: byTransport(
      new ScrapeHistogram({
        name: 'tollgate_check_duration_seconds',
        help: 'Time to answer a Check by transport (grpc|http), from request decoded to response ready.',
        labelNames: ['transport'] as const,
        buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
        registers: [registry],
      }),
    ),
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
    dpopReplayEntries: new Gauge({
      name: 'tollgate_dpop_replay_cache_entries',
      help: 'DPoP proofs this replica remembers in memory (bounded; see docs/operations.md).',
      registers: [registry],
      collect() {
        this.set(state.dpopReplayEntries?.() ?? 0);
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
    configReloads,
  };
}

export type CheckMetrics = ReturnType<typeof createCheckMetrics>;

function byTransport(histogram: ScrapeHistogram<'transport'>): Record<Transport, HistogramSeries> {
  return { grpc: histogram.labels({ transport: 'grpc' }), http: histogram.labels({ transport: 'http' }) };
}

/**
 * A token this close to `limits.maxTokenBytes` (or over it) counts as near the limit: teams see their
 * tokens growing (context roles piling up) before users get `token_too_large`.
 */
export const NEAR_LIMIT_FRACTION = 0.8;

function tokenSizeRecorder(registry: Registry): (bytes: number, provider: string, maxTokenBytes: number) => void {
  // Scrape-time metrics like the other per-check ones: every presented token is recorded.
  const sizes = new ScrapeHistogram({
    name: 'tollgate_token_bytes',
    help: 'Size of presented tokens in bytes, by provider ("" when the issuer is unknown or the token too large to read).',
    labelNames: ['provider'] as const,
    buckets: [512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 32768, 65536],
    registers: [registry],
  });
  const nearLimit = new ScrapeCounter({
    name: 'tollgate_token_near_limit_total',
    help: `Tokens of at least ${NEAR_LIMIT_FRACTION * 100} % of limits.maxTokenBytes (including those over it), by provider.`,
    labelNames: ['provider'] as const,
    registers: [registry],
  });
  // Series bound once per provider: no label look-up per token.
  const byProvider = new Map<string, { size: HistogramSeries; near: CounterSeries }>();
  return (bytes, provider, maxTokenBytes) => {
    let series = byProvider.get(provider);
    if (!series) byProvider.set(provider, (series = { size: sizes.labels({ provider }), near: nearLimit.labels({ provider }) }));
    series.size.observe(bytes);
    if (bytes >= maxTokenBytes * NEAR_LIMIT_FRACTION) series.near.inc();
  };
}

/**
 * Increments a labelled counter given its label values in order, without building a label object per
 * call. Label values come from code and config, so the memo stays small.
 */
function childrenOf<L extends string, A extends string[]>(
  counter: ScrapeCounter<L>,
  labels: (...values: A) => Record<L, string>,
): (...values: A) => void {
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

/** Lines the log dropped because stdout did not keep up (see createLogger). */
export function logLinesDropped(registry: Registry): Counter {
  return new Counter({
    name: 'tollgate_log_lines_dropped_total',
    help: 'Log lines dropped because stdout did not take them fast enough (the log buffers at most 4 MiB).',
    registers: [registry],
  });
}
