import { hash } from 'node:crypto';
import type { PublicJwk } from './jwk-filter.js';

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url): the hash of the key's required members only, in
 * lexicographic order, as JSON without whitespace. A DPoP-bound token names its key this way
 * (`cnf.jkt`, RFC 9449 §6). The members are base64url strings and fixed names, so JSON.stringify of
 * an object built in this order is exactly the canonical form.
 */
export function jwkThumbprint(jwk: PublicJwk): string {
  const required =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return hash('sha256', JSON.stringify(required), 'base64url');
}
