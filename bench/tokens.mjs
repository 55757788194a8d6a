// Signing keys, a JWKS, and JWTs for the bench, signed with node:crypto directly (fast enough to
// mint 100,000 tokens in a few seconds; jose would be slower and adds nothing here).
import { createHash, generateKeyPairSync, sign } from 'node:crypto';

export const ISSUER = 'https://bench.tollgate.invalid';
export const AUDIENCE = 'bench-api';

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function keyEntry(alg, pair) {
  const jwk = pair.publicKey.export({ format: 'jwk' });
  const kid = createHash('sha256').update(JSON.stringify(jwk)).digest('base64url').slice(0, 16);
  return { alg, kid, privateKey: pair.privateKey, publicKey: pair.publicKey, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

/** One ES256 (P-256), one RS256 (2048-bit) and one EdDSA (Ed25519) key; a fresh pair per run. */
export function generateKeys() {
  return {
    ES256: keyEntry('ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })),
    RS256: keyEntry('RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })),
    EdDSA: keyEntry('EdDSA', generateKeyPairSync('ed25519')),
  };
}

/** node:crypto's sign/verify arguments for a JWS algorithm: digest, and the key with its options. */
export function cryptoArgs(alg, key) {
  if (alg === 'EdDSA') return [null, key];
  return ['sha256', alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key];
}

export function jwksOf(keys) {
  return { keys: Object.values(keys).map((k) => k.jwk) };
}

/** Signs a compact JWS. ES256 signatures are raw r||s (JWS), not DER. */
export function signJwt(key, claims) {
  const input = `${b64url({ alg: key.alg, typ: 'JWT', kid: key.kid })}.${b64url(claims)}`;
  const [digest, signingKey] = cryptoArgs(key.alg, key.privateKey);
  const signature = sign(digest, Buffer.from(input), signingKey);
  return `${input}.${signature.toString('base64url')}`;
}

/** Standard claims of a valid token; `extra` adds or overrides. Valid for an hour. */
export function claims(sub, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub, iat: now - 5, exp: now + 3600, jti: `jti-${sub}`, ...extra };
}

/** `count` valid tokens with distinct sub/jti (hence distinct bytes), signed by `key`. */
export function distinctTokens(key, count, prefix) {
  const out = new Array(count);
  for (let i = 0; i < count; i++) out[i] = signJwt(key, claims(`${prefix}-${i}`));
  return out;
}

/** Same token, one signature character changed (still well-formed base64url of the right length). */
export function withBadSignature(token) {
  const dot = token.lastIndexOf('.');
  const at = dot + 10;
  const replacement = token[at] === 'A' ? 'B' : 'A';
  return token.slice(0, at) + replacement + token.slice(at + 1);
}
