import { constants, createHmac, createSecretKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSupportedAlgorithm, keyFitsAlgorithm, verifySignature } from '../../src/keys/index.js';

const data = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0');
const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
const p521 = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');

describe('keyFitsAlgorithm', () => {
  it('accepts a public key of the type, curve and size the algorithm names', () => {
    expect(keyFitsAlgorithm('ES256', p256.publicKey)).toBe(true);
    expect(keyFitsAlgorithm('ES384', p384.publicKey)).toBe(true);
    expect(keyFitsAlgorithm('ES512', p521.publicKey)).toBe(true);
    for (const alg of ['RS256', 'RS512', 'PS256', 'PS384']) expect(keyFitsAlgorithm(alg, rsa.publicKey)).toBe(true);
    expect(keyFitsAlgorithm('EdDSA', ed.publicKey)).toBe(true);
    expect(keyFitsAlgorithm('Ed25519', ed.publicKey)).toBe(true);
  });

  it('refuses every other pairing, private keys, small RSA keys, HMAC and unknown algorithms', () => {
    expect(keyFitsAlgorithm('ES256', p384.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('ES384', p256.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('ES512', p384.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('Ed25519', rsa.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('PS256', ed.publicKey)).toBe(false);
    // An RSA-PSS key (not one a JWK imports to) has the size but not the type RS256 and PS256 name.
    const rsaPss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    expect(keyFitsAlgorithm('RS256', rsaPss.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('PS256', rsaPss.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('ES256', rsa.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('RS256', p256.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('EdDSA', p256.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('ES256', p256.privateKey)).toBe(false);
    expect(keyFitsAlgorithm('RS256', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)).toBe(false);
    expect(keyFitsAlgorithm('HS256', rsa.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('none', rsa.publicKey)).toBe(false);
    expect(keyFitsAlgorithm('toString', rsa.publicKey)).toBe(false);
  });
});

describe('isSupportedAlgorithm', () => {
  it('names the algorithms a JWKS key can verify: every one known but HMAC', () => {
    for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']) {
      expect(isSupportedAlgorithm(alg), alg).toBe(true);
    }
    for (const alg of ['HS256', 'HS384', 'HS512', 'none', 'ES256K', 'toString', 'constructor', ''])
      expect(isSupportedAlgorithm(alg), alg).toBe(false);
  });
});

describe('verifySignature', () => {
  const es256 = sign('sha256', data, { key: p256.privateKey, dsaEncoding: 'ieee-p1363' });

  it('accepts a high-S ECDSA signature (s replaced by n - s), as JOSE rules allow', async () => {
    const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'); // the P-256 group order
    const s = BigInt(`0x${es256.subarray(32).toString('hex')}`);
    const highS = Buffer.concat([es256.subarray(0, 32), Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')]);
    expect(highS.equals(es256)).toBe(false);
    expect(await verifySignature('ES256', p256.publicKey, data, highS)).toBe(true);
  });

  it('verifies each family and refuses the same signature over other data', async () => {
    const ps256 = sign('sha256', data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    const cases: [string, Parameters<typeof verifySignature>[1], Buffer][] = [
      ['ES256', p256.publicKey, es256],
      ['RS256', rsa.publicKey, sign('sha256', data, rsa.privateKey)],
      ['PS256', rsa.publicKey, ps256],
      ['EdDSA', ed.publicKey, sign(null, data, ed.privateKey)],
    ];
    for (const [alg, key, signature] of cases) {
      expect(await verifySignature(alg, key, data, signature), alg).toBe(true);
      expect(await verifySignature(alg, key, Buffer.concat([data, Buffer.from('x')]), signature), alg).toBe(false);
    }
  });

  it('verifies every algorithm it knows with its own hash, padding, salt and curve, and no other', async () => {
    const secret = new Uint8Array(32).fill(7);
    const pss = (hash: string, saltLength: number) =>
      sign(hash, data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
    const p1363 = (hash: string, key: typeof p256) => sign(hash, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
    const cases: [string, Parameters<typeof verifySignature>[1], Buffer][] = [
      ['HS256', secret, createHmac('sha256', secret).update(data).digest()],
      ['HS384', secret, createHmac('sha384', secret).update(data).digest()],
      ['HS512', secret, createHmac('sha512', secret).update(data).digest()],
      ['RS256', rsa.publicKey, sign('sha256', data, rsa.privateKey)],
      ['RS384', rsa.publicKey, sign('sha384', data, rsa.privateKey)],
      ['RS512', rsa.publicKey, sign('sha512', data, rsa.privateKey)],
      ['PS256', rsa.publicKey, pss('sha256', 32)],
      ['PS384', rsa.publicKey, pss('sha384', 48)],
      ['PS512', rsa.publicKey, pss('sha512', 64)],
      ['ES256', p256.publicKey, p1363('sha256', p256)],
      ['ES384', p384.publicKey, p1363('sha384', p384)],
      ['ES512', p521.publicKey, p1363('sha512', p521)],
      ['EdDSA', ed.publicKey, sign(null, data, ed.privateKey)],
      ['Ed25519', ed.publicKey, sign(null, data, ed.privateKey)],
    ];
    for (const [alg, key, signature] of cases) {
      expect(await verifySignature(alg, key, data, signature), alg).toBe(true);
      // The same family with another hash (or, for EdDSA, the other name's signature bytes flipped).
      for (const [other, otherKey, otherSignature] of cases) {
        if (other === alg || otherKey !== key || (alg.startsWith('Ed') && other.startsWith('Ed'))) continue;
        expect(await verifySignature(alg, key, data, otherSignature), `${alg} with a ${other} signature`).toBe(false);
      }
    }
    // PSS with the salt RFC 7518 fixes (the hash's length) and no other.
    expect(await verifySignature('PS384', rsa.publicKey, data, pss('sha384', 32))).toBe(false);
    expect(await verifySignature('PS512', rsa.publicKey, data, pss('sha512', 32))).toBe(false);
  });

  it('refuses an ECDSA signature that is not exactly R || S, DER included, and the all-zero one', async () => {
    const der = sign('sha256', data, p256.privateKey); // DER, the encoding JWS does not use
    expect(await verifySignature('ES256', p256.publicKey, data, der)).toBe(false);
    expect(await verifySignature('ES256', p256.publicKey, data, es256.subarray(0, 63))).toBe(false);
    expect(await verifySignature('ES256', p256.publicKey, data, Buffer.concat([es256, Buffer.alloc(1)]))).toBe(false);
    expect(await verifySignature('ES256', p256.publicKey, data, Buffer.alloc(64))).toBe(false);
  });

  it('refuses a PKCS#1 v1.5 signature as PS256 and a PSS one as RS256', async () => {
    const pkcs1 = sign('sha256', data, rsa.privateKey);
    const pss = sign('sha256', data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    expect(await verifySignature('PS256', rsa.publicKey, data, pkcs1)).toBe(false);
    expect(await verifySignature('RS256', rsa.publicKey, data, pss)).toBe(false);
  });

  it('compares HMACs in full: a prefix, a longer value or another secret fails', async () => {
    const secret = new Uint8Array(32).fill(7);
    const mac = createHmac('sha256', secret).update(data).digest();
    expect(await verifySignature('HS256', secret, data, mac)).toBe(true);
    expect(await verifySignature('HS256', secret, data, mac.subarray(0, 16))).toBe(false);
    expect(await verifySignature('HS256', secret, data, Buffer.concat([mac, Buffer.alloc(1)]))).toBe(false);
    expect(await verifySignature('HS256', new Uint8Array(32).fill(8), data, mac)).toBe(false);
  });

  it('resolves false, never rejects, when handed a key unfit for the algorithm', async () => {
    expect(await verifySignature('ES256', ed.publicKey, data, es256)).toBe(false);
    expect(await verifySignature('PS256', p256.publicKey, data, Buffer.alloc(256))).toBe(false);
    expect(await verifySignature('EdDSA', rsa.publicKey, data, Buffer.alloc(64))).toBe(false);
    // node:crypto throws this one synchronously.
    expect(await verifySignature('RS256', createSecretKey(Buffer.alloc(32)), data, Buffer.alloc(256))).toBe(false);
  });

  it('never mixes secrets and public keys, and knows no other algorithm', async () => {
    const mac = createHmac('sha256', Buffer.from('k')).update(data).digest();
    expect(await verifySignature('HS256', rsa.publicKey, data, mac)).toBe(false);
    expect(await verifySignature('ES256', new Uint8Array(32), data, es256)).toBe(false);
    // Not even a secret whose bytes are the right public key in PEM: a secret is never a public key.
    const pem = new Uint8Array(Buffer.from(p256.publicKey.export({ type: 'spki', format: 'pem' })));
    expect(await verifySignature('ES256', pem, data, es256)).toBe(false);
    expect(await verifySignature('none', p256.publicKey, data, Buffer.alloc(0))).toBe(false);
    expect(await verifySignature('ES256K', p256.publicKey, data, es256)).toBe(false);
  });
});
