import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ScrapeCounter } from '../observability/scrape-metrics.js';

const byRegistry = new WeakMap<Registry, OpaqueMetrics>();

/**
 * Introspection and API-key metrics, labelled by provider name (from the config, so bounded). Created
 * once per registry and shared by every runtime built on it, so a reload keeps the counters. Cache hits
 * happen on most Checks with an opaque token, so they are plain numbers read at scrape time.
 */
export function opaqueMetricsOf(registry: Registry): OpaqueMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) byRegistry.set(registry, (metrics = createOpaqueMetrics(registry)));
  return metrics;
}

function createOpaqueMetrics(registry: Registry) {
  return {
    calls: new Counter({
      name: 'tollgate_introspection_requests_total',
      help: 'Calls to an introspection endpoint, by provider and result (active, inactive, timeout, network, status, bad_response, invalid_client).',
      labelNames: ['provider', 'result'] as const,
      registers: [registry],
    }),
    hits: new ScrapeCounter({
      name: 'tollgate_introspection_cache_hits_total',
      help: 'Opaque tokens answered from the introspection cache (active or inactive), by provider.',
      labelNames: ['provider'] as const,
      registers: [registry],
    }),
    misses: new Counter({
      name: 'tollgate_introspection_cache_misses_total',
      help: 'Opaque tokens not in the introspection cache, by provider (concurrent misses for one token share one call).',
      labelNames: ['provider'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'tollgate_introspection_request_duration_seconds',
      help: 'Duration of calls to an introspection endpoint, by provider.',
      labelNames: ['provider'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    apiKeyLoads: new Counter({
      name: 'tollgate_api_keys_reload_total',
      help: 'Loads of an API key file, by provider and result (success, error: the last good file is kept).',
      labelNames: ['provider', 'result'] as const,
      registers: [registry],
    }),
    apiKeys: new Gauge({
      name: 'tollgate_api_keys',
      help: 'API keys loaded (expired ones included), by provider.',
      labelNames: ['provider'] as const,
      registers: [registry],
    }),
  };
}

export type OpaqueMetrics = ReturnType<typeof createOpaqueMetrics>;
