/**
 * Workload identity: who is calling at the transport level (mTLS), as opposed to which user the token
 * names. Envoy reports it as `source.principal` (the URI SAN of the verified client certificate) and,
 * with `include_peer_certificate: true`, the URL-encoded PEM as `source.certificate`.
 */
import { X509Certificate } from 'node:crypto';

/**
 * The peer's principal: `principal` as Envoy sent it, else the first URI SAN (the SPIFFE ID) of
 * `certificate`. The certificate's chain and validity are not checked here: Envoy accepted the TLS
 * connection, which is where that check belongs. A DNS SAN or subject is never promoted to a principal,
 * so a rule listing SPIFFE IDs cannot be satisfied by a certificate that merely names a host.
 */
export function principalFromPeer(peer: { principal?: string; certificate?: string }): string | undefined {
  if (peer.principal) return peer.principal;
  if (!peer.certificate) return undefined;
  try {
    const pem = decodeURIComponent(peer.certificate);
    const san = new X509Certificate(pem).subjectAltName;
    return san === undefined ? undefined : firstUriSan(san);
  } catch {
    return undefined; // not URL-encoded PEM, or not a certificate: no workload identity
  }
}

/**
 * Node renders SANs as `DNS:a, URI:spiffe://x/y`; a value containing a separator is JSON-quoted
 * (`URI:"spiffe://x,y"`), so quoted values are read as JSON strings rather than split on commas.
 */
export function firstUriSan(san: string): string | undefined {
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(':', i);
    if (colon === -1) return undefined;
    const type = san.slice(i, colon);
    let value: string;
    let next: number;
    if (san[colon + 1] === '"') {
      let close = colon + 2;
      while (close < san.length && san[close] !== '"') close += san[close] === '\\' ? 2 : 1;
      value = JSON.parse(san.slice(colon + 1, close + 1)) as string;
      next = close + 1;
    } else {
      const comma = san.indexOf(', ', colon + 1);
      next = comma === -1 ? san.length : comma;
      value = san.slice(colon + 1, next);
    }
    if (type === 'URI') return value;
    i = next + 2; // skip ", "
  }
  return undefined;
}

export type PrincipalMatcher = (principal: string) => boolean;

/**
 * Compiles `principals`: exact strings, or a prefix ending in `/*` (`spiffe://cluster.local/ns/edge/*`
 * for every service account in a namespace). The `/` before `*` is required so that
 * `spiffe://cluster.local/ns/edge*` cannot silently admit `ns/edge-evil`.
 */
export function compilePrincipals(
  patterns: readonly string[],
): { ok: true; matches: PrincipalMatcher } | { ok: false; index: number; message: string } {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const [index, pattern] of patterns.entries()) {
    const star = pattern.indexOf('*');
    if (pattern === '' || pattern === '*' || pattern === '/*') {
      return {
        ok: false,
        index,
        message: `"${pattern}" would match any workload; list the principals, e.g. spiffe://cluster.local/ns/edge/sa/gateway`,
      };
    }
    if (star === -1) {
      exact.add(pattern);
    } else if (star === pattern.length - 1 && pattern.endsWith('/*')) {
      prefixes.push(pattern.slice(0, -1));
    } else {
      return { ok: false, index, message: `"${pattern}": "*" is only allowed as a final "/*" (e.g. spiffe://cluster.local/ns/edge/*)` };
    }
  }
  const matches: PrincipalMatcher =
    prefixes.length === 0 ? (p) => exact.has(p) : (p) => exact.has(p) || prefixes.some((prefix) => p.startsWith(prefix));
  return { ok: true, matches };
}
