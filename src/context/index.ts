/** Context sources: roles per context from a domain service, for tokens that do not list the context. */
export { contextSourcesSchema, type ContextSourceConfig } from './config.js';
export { contextMetricsOf, type ContextMetrics } from './metrics.js';
export { ContextSources, type ContextRoleResolver } from './sources.js';
export type { RolesAnswer } from './cache.js';
