import type { JwksConfig } from '../schema.js';
import { discoverySource } from './discovery.js';
import { fileSource } from './file.js';
import { uriSource } from './uri.js';
import type { JwksSource } from './source.js';

export type { JwksSource, SourceDocument } from './source.js';
export { fileSource } from './file.js';
export { uriSource } from './uri.js';
export { discoverySource } from './discovery.js';
export { fetchDocument, type FetchLimits } from './http.js';

/** The source a validated config names (the schema guarantees exactly one). */
export function createSource(issuer: string, config: JwksConfig): JwksSource {
  if (config.file !== undefined) return fileSource(config.file, config.maxBytes);
  const limits = {
    timeoutMs: config.timeoutSeconds * 1000,
    maxBytes: config.maxBytes,
    allowInsecureHttp: config.allowInsecureHttp,
  };
  if (config.uri !== undefined) return uriSource(config.uri, limits);
  return discoverySource(issuer, config.allowedJwksOrigins, limits);
}
