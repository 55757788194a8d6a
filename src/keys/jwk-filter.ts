import { JwksSourceError } from './errors.js';
import { MIN_RSA_BITS } from './signature.js';

/** The public parameters of a signature-verification key, nothing else (no private parts, no hints). */
export type PublicJwk =
  | { kty: 'RSA'; n: string; e: string }
  | { kty: 'EC'; crv: 'P-256' | 'P-384' | 'P-521'; x: string; y: string }
  | { kty: 'OKP'; crv: 'Ed25519'; x: string };

export interface AcceptedJwk {
  kid?: string;
  /** The JWK's own `alg`, when it pins one. */
  alg?: string;
  jwk: PublicJwk;
}

export interface DroppedJwk {
  kid?: string;
  reason: string;
}

const PRIVATE_PARTS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

/**
 * Parses a JWKS document and keeps the keys fit for verifying signatures. Throws when the document
 * is not a JWKS at all (the caller then keeps its last good set); drops, with a reason, single keys
 * that are unusable or unsafe. Duplicate kids: the first acceptable key wins, in document order, so
 * a `use: enc` twin published before the signing key does not shadow it.
 */
export function filterJwks(doc: unknown): { accepted: AcceptedJwk[]; dropped: DroppedJwk[] } {
  if (!isRecord(doc) || !Array.isArray(doc.keys)) throw new JwksSourceError('JWKS has no "keys" array');
  const accepted: AcceptedJwk[] = [];
  const dropped: DroppedJwk[] = [];
  const seen = new Set<string>();
  for (const raw of doc.keys as unknown[]) {
    const kid = isRecord(raw) && typeof raw.kid === 'string' ? raw.kid : undefined;
    const result = checkKey(raw);
    if (typeof result === 'string') {
      dropped.push({ kid, reason: result });
    } else if (kid !== undefined && seen.has(kid)) {
      dropped.push({ kid, reason: 'duplicate kid (the first key with this kid is used)' });
    } else {
      if (kid !== undefined) seen.add(kid);
      accepted.push(result);
    }
  }
  return { accepted, dropped };
}

/** The accepted key, or why it is dropped. */
function checkKey(raw: unknown): AcceptedJwk | string {
  if (!isRecord(raw)) return 'not a JSON object';
  if (raw.kid !== undefined && typeof raw.kid !== 'string') return 'kid is not a string';
  if (raw.alg !== undefined && typeof raw.alg !== 'string') return 'alg is not a string';
  if (raw.kty === 'oct') return 'symmetric (oct) key';
  if (raw.use !== undefined && raw.use !== 'sig') return `use is ${JSON.stringify(raw.use)}, not "sig"`;
  if (raw.key_ops !== undefined && !(Array.isArray(raw.key_ops) && raw.key_ops.includes('verify'))) {
    return 'key_ops does not include "verify"';
  }
  if (PRIVATE_PARTS.some((part) => raw[part] !== undefined)) return 'contains private key parameters';
  const jwk = publicJwk(raw);
  if (typeof jwk === 'string') return jwk;
  const accepted: AcceptedJwk = { jwk };
  if (typeof raw.kid === 'string') accepted.kid = raw.kid;
  if (typeof raw.alg === 'string') accepted.alg = raw.alg;
  return accepted;
}

/**
 * A key a client sends for itself (a DPoP proof's `jwk` header): its public members only, or why it is
 * refused. Private parameters are refused outright rather than dropped: a client that sends them has
 * leaked its key, and its proofs prove nothing.
 */
export function clientPublicJwk(raw: unknown): PublicJwk | string {
  if (!isRecord(raw)) return 'not a JSON object';
  if ([...PRIVATE_PARTS, 'oth'].some((part) => raw[part] !== undefined)) return 'contains private key parameters';
  return publicJwk(raw);
}

function publicJwk(raw: Record<string, unknown>): PublicJwk | string {
  const { kty, crv } = raw;
  if (kty === 'RSA') {
    if (!isB64url(raw.n) || !isB64url(raw.e)) return 'RSA key without valid n/e';
    const bits = modulusBits(raw.n);
    if (bits < MIN_RSA_BITS) return `RSA modulus is ${bits} bits, under ${MIN_RSA_BITS}`;
    return { kty, n: raw.n, e: raw.e };
  }
  if (kty === 'EC') {
    if (crv !== 'P-256' && crv !== 'P-384' && crv !== 'P-521') return `unsupported EC curve ${JSON.stringify(crv)}`;
    if (!isB64url(raw.x) || !isB64url(raw.y)) return 'EC key without valid x/y';
    return { kty, crv, x: raw.x, y: raw.y };
  }
  if (kty === 'OKP') {
    if (crv !== 'Ed25519') return `unsupported OKP curve ${JSON.stringify(crv)}`;
    if (!isB64url(raw.x)) return 'OKP key without valid x';
    return { kty, crv, x: raw.x };
  }
  return `unsupported kty ${JSON.stringify(kty)}`;
}

function modulusBits(n: string): number {
  const bytes = Buffer.from(n, 'base64url');
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++; // leading zero octets do not count
  const first = bytes[i];
  return first === undefined ? 0 : (bytes.length - i - 1) * 8 + (32 - Math.clz32(first));
}

function isB64url(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && /^[A-Za-z0-9_-]+$/.test(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
