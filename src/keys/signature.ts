import { constants, createHmac, timingSafeEqual, verify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';

/**
 * JWS signature checks (RFC 7515 §5.2, algorithms of RFC 7518 §3 and RFC 8037) on node:crypto.
 *
 * Why not jose.jwtVerify: jose verifies through WebCrypto, which costs more CPU per check than
 * node:crypto's own `verify` (bench/RESULTS.md has the before/after). jose remains the reference: a
 * differential test feeds the same mutated tokens to both and requires the same decision
 * (test/pipeline/jose-parity.test.ts). The asymmetric math runs on libuv's thread pool (the callback
 * form of `crypto.verify`), as WebCrypto's did, so the event loop keeps serving while it runs.
 */
type Scheme =
  | { kind: 'hmac'; hash: string }
  | { kind: 'rsa'; hash: string; pssSaltBytes?: number }
  | { kind: 'ec'; hash: string; curve: string; signatureBytes: number }
  | { kind: 'ed25519' };

const SCHEMES: Readonly<Record<string, Scheme>> = {
  HS256: { kind: 'hmac', hash: 'sha256' },
  HS384: { kind: 'hmac', hash: 'sha384' },
  HS512: { kind: 'hmac', hash: 'sha512' },
  RS256: { kind: 'rsa', hash: 'sha256' },
  RS384: { kind: 'rsa', hash: 'sha384' },
  RS512: { kind: 'rsa', hash: 'sha512' },
  // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
  PS256: { kind: 'rsa', hash: 'sha256', pssSaltBytes: 32 },
  PS384: { kind: 'rsa', hash: 'sha384', pssSaltBytes: 48 },
  PS512: { kind: 'rsa', hash: 'sha512', pssSaltBytes: 64 },
  // RFC 7518 §3.4: R || S, each as long as the curve's order (P-521: 66 bytes).
  ES256: { kind: 'ec', hash: 'sha256', curve: 'prime256v1', signatureBytes: 64 },
  ES384: { kind: 'ec', hash: 'sha384', curve: 'secp384r1', signatureBytes: 96 },
  ES512: { kind: 'ec', hash: 'sha512', curve: 'secp521r1', signatureBytes: 132 },
  EdDSA: { kind: 'ed25519' },
  Ed25519: { kind: 'ed25519' },
};

/** Whether keys from a JWKS can verify `alg` (every supported algorithm but HMAC: a JWKS is public). */
export function isSupportedAlgorithm(alg: string): boolean {
  return Object.hasOwn(SCHEMES, alg) && SCHEMES[alg]!.kind !== 'hmac';
}

/** RSA keys below this size are refused outright (RFC 7518 §3.3 requires 2048 bits). */
export const MIN_RSA_BITS = 2048;

/**
 * Whether an imported public key may verify `alg`: the right key type, curve and size. Called when a
 * key set is built, so a lookup by (kid, alg) can only ever hand out a key that fits.
 */
export function keyFitsAlgorithm(alg: string, key: KeyObject): boolean {
  const scheme = Object.hasOwn(SCHEMES, alg) ? SCHEMES[alg] : undefined;
  if (!scheme || key.type !== 'public') return false;
  const details = key.asymmetricKeyDetails ?? {};
  switch (scheme.kind) {
    case 'rsa':
      return key.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= MIN_RSA_BITS;
    case 'ec':
      return key.asymmetricKeyType === 'ec' && details.namedCurve === scheme.curve;
    case 'ed25519':
      return key.asymmetricKeyType === 'ed25519';
    case 'hmac':
      return false;
  }
}

/**
 * Verifies `signature` over `signingInput` (the token's first two segments, as sent). `key` must have
 * passed keyFitsAlgorithm for `alg` (asymmetric) or be the provider's shared secret (HS*). Resolves
 * false for any signature that does not verify, including one of the wrong length; never rejects.
 */
export function verifySignature(alg: string, key: KeyObject | Uint8Array, signingInput: Buffer, signature: Buffer): Promise<boolean> {
  const scheme = Object.hasOwn(SCHEMES, alg) ? SCHEMES[alg] : undefined;
  if (!scheme) return Promise.resolve(false);
  if (scheme.kind === 'hmac') {
    if (!(key instanceof Uint8Array)) return Promise.resolve(false);
    const expected = createHmac(scheme.hash, key).update(signingInput).digest();
    return Promise.resolve(expected.length === signature.length && timingSafeEqual(expected, signature));
  }
  if (key instanceof Uint8Array) return Promise.resolve(false);
  let input: VerifyKeyObjectInput;
  let hash: string | null;
  switch (scheme.kind) {
    case 'rsa':
      hash = scheme.hash;
      input =
        scheme.pssSaltBytes === undefined ? { key } : { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.pssSaltBytes };
      break;
    case 'ec':
      // A JWS carries R || S; a signature of any other length is not one (and not DER either).
      if (signature.length !== scheme.signatureBytes) return Promise.resolve(false);
      hash = scheme.hash;
      input = { key, dsaEncoding: 'ieee-p1363' };
      break;
    case 'ed25519':
      hash = null; // Ed25519 hashes internally
      input = { key };
      break;
  }
  return new Promise((resolve) => {
    try {
      verify(hash, signingInput, input, signature, (err, ok) => resolve(err === null && ok));
    } catch {
      resolve(false); // node refuses some inputs synchronously (a key unfit for the padding, say)
    }
  });
}
