export { jwksConfigSchema, type JwksConfig } from './schema.js';
export { KeyError, JwksConfigError, JwksSourceError, type KeyErrorCode } from './errors.js';
export { clientPublicJwk, filterJwks, type AcceptedJwk, type DroppedJwk, type PublicJwk } from './jwk-filter.js';
export type { VerificationKey } from './key-set.js';
export { createKeyManager, type KeyManager, type KeyManagerStatus, type KeyProvider } from './key-manager.js';
export { createSource, fileSource, uriSource, discoverySource, fetchDocument, type JwksSource, type FetchLimits } from './sources/index.js';
export { isSupportedAlgorithm, keyFitsAlgorithm, verifySignature } from './signature.js';
export { jwkThumbprint } from './thumbprint.js';
