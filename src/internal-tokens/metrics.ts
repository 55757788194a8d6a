import { Counter, type Registry } from 'prom-client';

export function createInternalTokenMetrics(registry: Registry) {
  const mints = new Counter({
    name: 'tollgate_internal_tokens_minted_total',
    help: 'Internal tokens signed, by result (success|error).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return {
    mintSuccess: mints.labels({ result: 'success' }),
    mintError: mints.labels({ result: 'error' }),
    cacheHits: new Counter({
      name: 'tollgate_internal_token_cache_hits_total',
      help: 'Internal tokens reused from the minted-token cache instead of signed.',
      registers: [registry],
    }),
  };
}

export type InternalTokenMetrics = ReturnType<typeof createInternalTokenMetrics>;
