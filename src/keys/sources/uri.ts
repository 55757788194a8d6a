import { displayUrl } from '../transport.js';
import { fetchDocument, type FetchLimits } from './http.js';
import type { JwksSource } from './source.js';

export function uriSource(uri: string, limits: FetchLimits): JwksSource {
  const url = new URL(uri);
  return {
    description: displayUrl(url),
    remote: true,
    load: (signal) => fetchDocument(url, limits, signal),
  };
}
