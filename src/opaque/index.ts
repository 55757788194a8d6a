export { apiKeysConfigSchema, introspectionConfigSchema, type ApiKeysConfig, type IntrospectionConfig } from './schema.js';
export { Introspector } from './introspector.js';
export type { IntrospectionAnswer, IntrospectionFailure } from './introspection-client.js';
export { ApiKeyStore, type ApiKeyLookup } from './api-keys.js';
export { opaqueMetricsOf } from './metrics.js';
