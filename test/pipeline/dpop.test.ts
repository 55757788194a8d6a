/**
 * verifyProof on its own: the boundaries and the malformed claims of a DPoP proof (RFC 9449 §4.3),
 * which the gRPC tests in test/integration/sender-constraint.test.ts reach only through a whole check.
 */
import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { verifyProof, type ProofRequest } from '../../src/pipeline/dpop.js';

// createPublicKey as node has it, counted: how often dpop.ts imports a proof's key.
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof import('node:crypto')>();
  return { ...crypto, createPublicKey: vi.fn(crypto.createPublicKey) };
});

const NOW = 1_800_000_000;
const URI = 'https://api.example.com/api/things';
const TOKEN = 'access-token';
const SETTINGS = { algorithms: ['ES256'], maxAgeSeconds: 60, skewSeconds: 30 };

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('base64url');

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicJwk = (key: KeyObject) => key.export({ format: 'jwk' });

/** A proof signed with ES256 by `ec` unless `signer` says otherwise; `header` and `claims` override the valid ones. */
function proof(options: { header?: object; claims?: object; signer?: (input: string) => Buffer } = {}): string {
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk(ec.publicKey), ...options.header };
  const claims = { jti: 'proof-1', htm: 'GET', htu: URI, iat: NOW, ath: sha256(TOKEN), ...options.claims };
  const input = `${b64(header)}.${b64(claims)}`;
  const signer = options.signer ?? ((data) => sign('sha256', Buffer.from(data), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }));
  return `${input}.${signer(input).toString('base64url')}`;
}

const request = (overrides: Partial<ProofRequest> = {}): ProofRequest => ({
  method: 'GET',
  uri: URI,
  accessToken: TOKEN,
  nowSeconds: NOW,
  ...overrides,
});
const verify = (text: string, overrides: Partial<ProofRequest> = {}) => verifyProof(text, request(overrides), SETTINGS);

describe('verifyProof', () => {
  it('accepts a valid proof and says how long its jti must be remembered: iat + maxAge + skew', async () => {
    expect(await verify(proof())).toEqual({ jkt: expect.any(String), jti: 'proof-1', acceptableUntil: NOW + 60 + 30 });
  });

  it('takes iat up to the skew ahead and maxAge plus the skew behind, and not a second more', async () => {
    expect(await verify(proof({ claims: { iat: NOW + 30 } }))).toBeDefined();
    expect(await verify(proof({ claims: { iat: NOW + 31 } }))).toBeUndefined();
    expect(await verify(proof({ claims: { iat: NOW - 90 } }))).toBeDefined();
    expect(await verify(proof({ claims: { iat: NOW - 91 } }))).toBeUndefined();
  });

  it('refuses an iat that is not a number, even one that reads as the right time', async () => {
    expect(await verify(proof({ claims: { iat: String(NOW) } }))).toBeUndefined();
  });

  it('takes a proof of 4096 characters, and not one of 4097', async () => {
    // Padding in an extra claim; a header field as well, to reach every length base64url can give.
    const padded = (length: number) => {
      for (let claim = 0; claim < 4000; claim++)
        for (let field = 0; field < 3; field++) {
          const text = proof({ claims: { pad: 'x'.repeat(claim) }, header: { pad: 'y'.repeat(field) } });
          if (text.length === length) return text;
        }
      throw new Error(`no proof of ${length} characters`);
    };
    expect(await verify(padded(4096))).toBeDefined();
    expect(await verify(padded(4097))).toBeUndefined();
  });

  it('takes a jti of 256 characters, and refuses one of 257 and an empty one', async () => {
    expect(await verify(proof({ claims: { jti: 'j'.repeat(256) } }))).toBeDefined();
    expect(await verify(proof({ claims: { jti: 'j'.repeat(257) } }))).toBeUndefined();
    expect(await verify(proof({ claims: { jti: '' } }))).toBeUndefined();
  });

  it('compares htu as a URI: http as https, never another scheme, user info or a value that is no string', async () => {
    const http = 'http://api.example.com/api/things';
    expect(await verify(proof({ claims: { htu: http } }), { uri: http })).toBeDefined();
    const ftp = 'ftp://api.example.com/api/things';
    expect(await verify(proof({ claims: { htu: ftp } }), { uri: ftp })).toBeUndefined();
    expect(await verify(proof({ claims: { htu: 'https://user@api.example.com/api/things' } }))).toBeUndefined();
    expect(await verify(proof({ claims: { htu: 'https://:secret@api.example.com/api/things' } }))).toBeUndefined();
    expect(await verify(proof({ claims: { htu: [URI] } }))).toBeUndefined();
  });

  it('refuses every proof when the request URI is unknown, and an htu that is no URI, without throwing', async () => {
    expect(await verify(proof({ claims: { htu: 'not a uri' } }), { uri: undefined })).toBeUndefined();
    expect(await verify(proof({ claims: { htu: 'not a uri' } }))).toBeUndefined();
  });

  it('refuses a key that does not fit the algorithm: an RSA signature labelled ES256', async () => {
    const rsaSigned = proof({
      header: { jwk: publicJwk(rsa.publicKey) },
      signer: (input) => sign('sha256', Buffer.from(input), rsa.privateKey),
    });
    expect(await verify(rsaSigned)).toBeUndefined();
  });

  it('refuses a key that cannot be imported, without throwing', async () => {
    const { kty, crv, x } = publicJwk(ec.publicKey);
    expect(await verify(proof({ header: { jwk: { kty, crv, x, y: x } } }))).toBeUndefined();
  });

  it('refuses a header or payload that is no JSON object, and a header with an extension it does not understand, without throwing', async () => {
    const valid = proof().split('.');
    const notJson = Buffer.from('not json').toString('base64url');
    expect(await verify([notJson, valid[1], valid[2]].join('.'))).toBeUndefined();
    expect(await verify([valid[0], notJson, valid[2]].join('.'))).toBeUndefined();
    expect(await verify(proof({ header: { crit: ['exp'], exp: 1 } }))).toBeUndefined();
  });

  it('hashes the access token as the bytes that were sent (ath), a byte above 0x7f included', async () => {
    const token = 'token-\u00e9';
    expect(await verify(proof({ claims: { ath: sha256(Buffer.from(token, 'latin1')) } }), { accessToken: token })).toBeDefined();
  });
});

describe('verifyProof, a header it has read before', () => {
  // Proofs under one header (the same client key): its checks are remembered, never the rest.
  const header = { kid: 'remembered-header' };

  it('checks every later proof under it in full: its claims and its own signature', async () => {
    expect(await verify(proof({ header, claims: { jti: 'first' } }))).toBeDefined();
    expect(await verify(proof({ header, claims: { jti: 'wrong-method', htm: 'POST' } }))).toBeUndefined();
    expect(await verify(proof({ header, claims: { jti: 'old', iat: NOW - 91 } }))).toBeUndefined();
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = proof({
      header,
      claims: { jti: 'forged' },
      signer: (input) => sign('sha256', Buffer.from(input), { key: other.privateKey, dsaEncoding: 'ieee-p1363' }),
    });
    expect(await verify(forged)).toBeUndefined();
    expect(await verify(proof({ header, claims: { jti: 'second' } }))).toEqual({
      jkt: expect.any(String),
      jti: 'second',
      acceptableUntil: NOW + 90,
    });
  });

  it("holds it to each caller's algorithms", async () => {
    expect(await verify(proof({ header }))).toBeDefined();
    expect(await verifyProof(proof({ header }), request(), { ...SETTINGS, algorithms: ['EdDSA'] })).toBeUndefined();
  });

  it('refuses every proof under a header whose key cannot be used, the second as the first', async () => {
    const rsaHeader = { jwk: publicJwk(rsa.publicKey), kid: 'rsa-labelled-es256' };
    const rsaSigned = () => proof({ header: rsaHeader, signer: (input) => sign('sha256', Buffer.from(input), rsa.privateKey) });
    expect(await verify(rsaSigned())).toBeUndefined();
    expect(await verify(rsaSigned())).toBeUndefined();
  });

  it('imports its key once: for the first proof under it, a key that cannot be imported or used included', async () => {
    const imports = vi.mocked(createPublicKey);
    const importsFor = async (text: () => string) => {
      imports.mockClear();
      for (let i = 0; i < 3; i++) expect(await verify(text())).toBeUndefined();
      return imports.mock.calls.length;
    };
    const usable = { kid: 'imported-once' };
    imports.mockClear();
    for (const jti of ['a', 'b', 'c']) expect(await verify(proof({ header: usable, claims: { jti } }))).toBeDefined();
    expect(imports).toHaveBeenCalledTimes(1);
    const { kty, crv, x } = publicJwk(ec.publicKey);
    expect(await importsFor(() => proof({ header: { kid: 'not-on-the-curve', jwk: { kty, crv, x, y: x } } }))).toBe(1);
    const rsaHeader = { jwk: publicJwk(rsa.publicKey), kid: 'rsa-labelled-es256, once' };
    expect(
      await importsFor(() => proof({ header: rsaHeader, signer: (input) => sign('sha256', Buffer.from(input), rsa.privateKey) })),
    ).toBe(1);
  });
});
