import { z } from 'zod';

/**
 * `readiness` config. Readiness means "this replica can answer". Every replica of a fleet loses an
 * identity provider at the same moment, so letting one provider's keys gate readiness turns an IdP
 * outage into an outage of every route (anonymous and peer-only ones too) when the whole fleet
 * leaves the load balancer together. Key health is reported per provider instead; the switch is for
 * deployments whose replicas fetch keys over paths that fail independently.
 */
export const readinessConfigSchema = z
  .strictObject({
    /** true: a provider without usable keys makes this replica not ready (the whole fleet, in an IdP outage). */
    requireProviderKeys: z.boolean().default(false),
  })
  .default({ requireProviderKeys: false });

export type ReadinessConfig = z.infer<typeof readinessConfigSchema>;
