import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
  type JWTHeaderParameters,
} from 'jose';

export interface TestKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** A fresh signing key; the JWK carries kid, alg and use as an IdP's JWKS would. */
export async function testKey(alg: string, options: { modulusLength?: number; crv?: string; kid?: string } = {}): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...options });
  const jwk = await exportJWK(publicKey);
  const kid = options.kid ?? (await calculateJwkThumbprint(jwk));
  return { alg, kid, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

export function jwks(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

export interface MintOptions {
  key: TestKey;
  claims?: JWTPayload;
  header?: Partial<JWTHeaderParameters>;
  /** Seconds since the epoch used for iat/exp; defaults to now. */
  now?: number;
  ttlSeconds?: number;
}

/** A token as the test IdP would issue it: iss/aud/sub/iat/exp set unless the claims override them. */
export async function mint(issuer: string, audience: string | string[], options: MintOptions): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const claims: JWTPayload = {
    iss: issuer,
    aud: audience,
    sub: 'user-123',
    iat: now,
    exp: now + (options.ttlSeconds ?? 300),
    ...options.claims,
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.key.alg, kid: options.key.kid, ...options.header })
    .sign(options.key.privateKey);
}
