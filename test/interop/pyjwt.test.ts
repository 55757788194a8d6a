/**
 * Tokens minted by another JWT library (PyJWT, Debian's python3-jwt) for every algorithm tollgate
 * accepts, checked over real gRPC: tollgate verifies signatures itself (src/keys/signature.ts), so an
 * independent signer is the check that its encodings (ECDSA R || S, PSS salt length, Ed25519) are the
 * ones the rest of the world uses.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, injectedHeaders } from '../helpers/envoy-client.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

/** Debian's interpreter, where python3-jwt installs (a pyenv or venv python3 on PATH may lack it). */
const PYTHON = process.env.TOLLGATE_TEST_PYTHON ?? '/usr/bin/python3';
const MINT = fileURLToPath(new URL('./pyjwt_mint.py', import.meta.url));
const ISSUER = 'https://pyjwt.example';
const HMAC_SECRET = 'a-shared-secret-of-at-least-32-bytes-for-pyjwt';

interface KeyPair {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}
const pair = (kid: string, made: { privateKey: KeyObject; publicKey: KeyObject }): KeyPair => ({ kid, ...made });
const rsa = pair('rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }));
const KEYS: Record<string, KeyPair> = {
  RS256: rsa,
  RS384: rsa,
  RS512: rsa,
  PS256: rsa,
  PS384: rsa,
  PS512: rsa,
  ES256: pair('p256', generateKeyPairSync('ec', { namedCurve: 'prime256v1' })),
  ES384: pair('p384', generateKeyPairSync('ec', { namedCurve: 'secp384r1' })),
  ES512: pair('p521', generateKeyPairSync('ec', { namedCurve: 'secp521r1' })),
  EdDSA: pair('ed', generateKeyPairSync('ed25519')),
};
const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const ALGS = [...Object.keys(KEYS), ...HMAC_ALGS];

interface MintRequest {
  alg: string;
  key: string;
  kid?: string;
  claims: Record<string, unknown>;
}

function mintWithPyJwt(requests: MintRequest[]): string[] {
  try {
    return JSON.parse(execFileSync(PYTHON, [MINT], { input: JSON.stringify(requests), encoding: 'utf8' })) as string[];
  } catch (err) {
    throw new Error(
      `minting with PyJWT failed: ${PYTHON} needs PyJWT and cryptography (apt-get install python3-jwt python3-cryptography; .ci/run does)\n${String(err)}`,
      {
        cause: err,
      },
    );
  }
}

function freshKeyLike(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  if (key.asymmetricKeyType === 'ec') return generateKeyPairSync('ec', { namedCurve: key.asymmetricKeyDetails!.namedCurve! }).privateKey;
  return generateKeyPairSync('ed25519').privateKey;
}

const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }).toString();

describe('tokens minted by PyJWT', () => {
  let tg: RunningTollgate;
  let valid: Map<string, string>;
  let forged: Map<string, string>;

  beforeAll(async () => {
    const jwks = {
      keys: [...new Set(Object.values(KEYS))].map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, use: 'sig' })),
    };
    tg = await startTollgate(
      {
        providers: [
          {
            name: 'py',
            issuer: ISSUER,
            audiences: ['api'],
            algorithms: ALGS,
            jwks: { file: 'jwks.json' },
            hmacSecret: { file: 'hmac-secret' },
          },
        ],
        rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
      },
      { 'jwks.json': jwks, 'hmac-secret': HMAC_SECRET },
    );
    const now = nowSeconds(tg.clock);
    const claims = (alg: string) => ({ iss: ISSUER, aud: ['api', 'other'], sub: `user-${alg}`, iat: now, nbf: now, exp: now + 300 });
    const request = (alg: string, forgedKey: boolean): MintRequest => {
      if (HMAC_ALGS.includes(alg)) return { alg, key: forgedKey ? `${HMAC_SECRET}-not` : HMAC_SECRET, claims: claims(alg) };
      const { kid, privateKey } = KEYS[alg]!;
      // A forged token names the published kid but is signed by a fresh key of the same kind.
      const signer = forgedKey ? freshKeyLike(privateKey) : privateKey;
      return { alg, kid, key: pem(signer), claims: claims(alg) };
    };
    const tokens = mintWithPyJwt([...ALGS.map((alg) => request(alg, false)), ...ALGS.map((alg) => request(alg, true))]);
    valid = new Map(ALGS.map((alg, i) => [alg, tokens[i]!]));
    forged = new Map(ALGS.map((alg, i) => [alg, tokens[ALGS.length + i]!]));
  });
  afterAll(async () => tg?.close());

  const check = (token: string) => tg.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));

  it.each(ALGS)('%s: allowed, with the subject injected', async (alg) => {
    const response = await check(valid.get(alg)!);
    expect(response.status?.code, JSON.stringify(response.denied_response?.body ?? '')).toBe(0);
    expect(injectedHeaders(response)['x-user-id']).toBe(`user-${alg}`);
  });

  it.each(ALGS)('%s: signed by another key, denied as invalid_signature', async (alg) => {
    const response = await check(forged.get(alg)!);
    expect(response.status?.code).toBe(16);
    expect(deniedBody(response).reason).toBe('invalid_signature');
  });
});
