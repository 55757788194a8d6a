import { Counter, Histogram, type Registry } from 'prom-client';
import { ScrapeCounter } from '../observability/scrape-metrics.js';

const byRegistry = new WeakMap<Registry, ContextMetrics>();

/**
 * Context-source metrics, labelled by source name (from the config, so bounded). Created once per
 * registry and shared by every runtime built on it, so a reload keeps the counters. Look-ups and hits
 * happen on every check that needs a context source, so they are counted as plain numbers read at
 * scrape time (src/observability/scrape-metrics.ts); the rest happen only on a call to the source.
 */
export function contextMetricsOf(registry: Registry): ContextMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) byRegistry.set(registry, (metrics = createContextMetrics(registry)));
  return metrics;
}

function createContextMetrics(registry: Registry) {
  return {
    lookups: new ScrapeCounter({
      name: 'tollgate_context_lookups_total',
      help: 'Context-role look-ups by source: the token did not list the context.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    hits: new ScrapeCounter({
      name: 'tollgate_context_cache_hits_total',
      help: 'Context-role look-ups answered from the cache, by source.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    misses: new Counter({
      name: 'tollgate_context_cache_misses_total',
      help: 'Context-role look-ups not in the cache, by source (concurrent misses for one key share one call).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    failures: new Counter({
      name: 'tollgate_context_failures_total',
      help: 'Calls to a context source that failed (timeout, network, non-2xx, bad answer), by source; the check was denied.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'tollgate_context_request_duration_seconds',
      help: 'Duration of calls to a context source, by source.',
      labelNames: ['source'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
  };
}

export type ContextMetrics = ReturnType<typeof createContextMetrics>;
