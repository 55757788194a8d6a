import { z } from 'zod';

/**
 * `readiness` config. Readiness means "this replica can answer". Every replica of a fleet loses an
 * identity provider, or the revocation store they share, at the same moment, so letting either gate
 * readiness turns that outage into an outage of every route (anonymous and peer-only ones too) when
 * the whole fleet leaves the load balancer together. Their health is reported in /readyz's detail and
 * the metrics instead (tokens are still refused, fail closed); the switches are for deployments whose
 * replicas reach them over paths that fail independently.
 */
export const readinessConfigSchema = z
  .strictObject({
    /** true: a provider without usable keys makes this replica not ready (the whole fleet, in an IdP outage). */
    requireProviderKeys: z.boolean().default(false),
    /**
     * true: a revocation store staler than `maxStalenessSeconds` makes this replica not ready (the whole
     * fleet, when the shared store is down). A replica that has not synced once since it started is not
     * ready either way: that is its own state, not the fleet's.
     */
    requireRevocationStore: z.boolean().default(false),
  })
  .default({ requireProviderKeys: false, requireRevocationStore: false });

export type ReadinessConfig = z.infer<typeof readinessConfigSchema>;
