import { JwksSourceError } from '../errors.js';
import { displayUrl, transportProblem } from '../transport.js';
import { fetchDocument, type FetchLimits } from './http.js';
import type { JwksSource } from './source.js';

/**
 * OIDC discovery, run on every load so a moved jwks_uri is followed on the next refresh. The
 * document's issuer must equal ours exactly (OIDC Discovery §4.3) and jwks_uri must stay on an
 * allowed origin: a tampered or misconfigured document must not be able to point us at other keys.
 */
export function discoverySource(issuer: string, allowedOrigins: readonly string[] | undefined, limits: FetchLimits): JwksSource {
  // OIDC Discovery §4: a trailing slash on the issuer is removed before appending the well-known path.
  const configUrl = new URL(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  const origins = new Set((allowedOrigins ?? [issuer]).map((o) => new URL(o).origin));
  const where = displayUrl(configUrl);
  return {
    description: where,
    remote: true,
    async load(signal) {
      const { text } = await fetchDocument(configUrl, limits, signal);
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new JwksSourceError(`${where}: not valid JSON`);
      }
      const fields = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
      if (fields.issuer !== issuer) {
        throw new JwksSourceError(
          `${where}: issuer ${JSON.stringify(fields.issuer)} does not equal the configured ${JSON.stringify(issuer)}`,
        );
      }
      if (typeof fields.jwks_uri !== 'string') throw new JwksSourceError(`${where}: no jwks_uri`);
      const problem = transportProblem(fields.jwks_uri, limits.allowInsecureHttp);
      if (problem) throw new JwksSourceError(`${where}: jwks_uri ${problem}`);
      const jwksUrl = new URL(fields.jwks_uri);
      if (!origins.has(jwksUrl.origin)) {
        throw new JwksSourceError(`${where}: jwks_uri origin ${jwksUrl.origin} is not in allowedJwksOrigins`);
      }
      return fetchDocument(jwksUrl, limits, signal);
    },
  };
}
