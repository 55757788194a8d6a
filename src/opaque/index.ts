export { apiKeysConfigSchema, introspectionConfigSchema } from './schema.js';
export { Introspector } from './introspector.js';
export type { IntrospectionAnswer } from './introspection-client.js';
export { ApiKeyStore } from './api-keys.js';
export { opaqueMetricsOf } from './metrics.js';
