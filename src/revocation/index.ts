import { ConfigError } from '../util/config-error.js';
import type { Deps } from '../observability/deps.js';
import type { Backend } from './backend.js';
import type { RevocationConfig } from './config.js';
import { FileBackend } from './file-backend.js';
import { MemoryBackend } from './memory-backend.js';
import { Mirror } from './mirror.js';
import { RedisBackend } from './redis-backend.js';
import { MirroredStore } from './store.js';
import type { RevocationStore } from './types.js';

export {
  DEFAULT_TTL_SECONDS,
  revocationConfigSchema,
  parseRevocationConfig,
  type RevocationConfig,
  type RevocationConfigInput,
} from './config.js';
export {
  errorMessage,
  RevocationInputError,
  RevocationStoreUnavailableError,
  RevocationOutcomeUnknownError,
  isRevocationType,
  type RefreshMarker,
  type RevocationClaims,
  type RevocationEntry,
  type RevocationInput,
  type RevocationStatus,
  type RevocationStore,
  type RevocationType,
  type RevocationVerdict,
} from './types.js';
export { MAX_VALUE_LENGTH, MAX_REASON_LENGTH } from './entries.js';
export { resolveRedisPaths } from './redis-config.js';

/**
 * Build the configured store. Nothing is read or connected until start(), which also registers the
 * revocation metrics on `deps.registry` (taking the names over from a store this one replaces).
 * Denials are counted inside check(): the caller only maps the verdict to a response.
 */
export function createRevocationStore(config: RevocationConfig, deps: Deps): RevocationStore {
  const mirror = new Mirror();
  let backend: Backend;
  switch (config.store) {
    case 'memory':
      backend = new MemoryBackend(mirror, deps.clock);
      break;
    case 'file':
      // The section's schema requires `path` for the file store.
      backend = new FileBackend(config.path ?? '', mirror, deps.clock, deps.logger);
      break;
    case 'redis': {
      const redis = config.redis;
      if (redis === undefined) throw new ConfigError(['revocation.redis: required when store is redis']);
      backend = new RedisBackend({ ...redis, channel: redis.channel ?? `${redis.keyPrefix}revocations` }, mirror, deps.clock, deps.logger);
      break;
    }
  }
  return new MirroredStore(backend, mirror, config, deps);
}
