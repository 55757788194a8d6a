/**
 * filterJwks on its own: which keys a JWKS may contribute, and the reason logged for each one dropped.
 * The key manager's tests (filter.test.ts) show the same rules through a running provider; these pin
 * every rule and message, and that an accepted key carries its public parameters and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { filterJwks, JwksSourceError } from '../../src/keys/index.js';

/** A base64url RSA modulus of exactly `bits` bits (top bit set), after `zeros` leading zero octets. */
function modulus(bits: number, zeros = 0): string {
  const bytes = Buffer.alloc(zeros + Math.ceil(bits / 8), 0xff);
  bytes.fill(0, 0, zeros);
  bytes[zeros] = 0xff >> (7 - ((bits - 1) % 8));
  return bytes.toString('base64url');
}

const N = modulus(2048);
const X = Buffer.alloc(32, 1).toString('base64url');
const Y = Buffer.alloc(32, 2).toString('base64url');
const rsa = (extra: Record<string, unknown> = {}) => ({ kty: 'RSA', n: N, e: 'AQAB', ...extra });

/** The reason `raw` is dropped for, or 'accepted'. */
function verdict(raw: unknown): string {
  const { accepted, dropped } = filterJwks({ keys: [raw] });
  expect(accepted.length + dropped.length).toBe(1);
  return dropped[0]?.reason ?? 'accepted';
}

describe('filterJwks', () => {
  it('throws on a document that is not a JWKS', () => {
    for (const doc of [null, 'keys', [], [{ kty: 'RSA' }], {}, { keys: {} }, { keys: 'RSA' }]) {
      expect(() => filterJwks(doc), JSON.stringify(doc)).toThrow(JwksSourceError);
    }
    expect(() => filterJwks({})).toThrow('JWKS has no "keys" array');
    expect(filterJwks({ keys: [] })).toEqual({ accepted: [], dropped: [] });
  });

  it('drops an entry that is not a JSON object, without a kid', () => {
    for (const raw of [null, 'RSA', 7, [rsa()]]) {
      expect(filterJwks({ keys: [raw] }).dropped).toStrictEqual([{ kid: undefined, reason: 'not a JSON object' }]);
    }
  });

  it('drops a kid or alg that is not a string, naming it', () => {
    expect(filterJwks({ keys: [rsa({ kid: 7 })] }).dropped).toStrictEqual([{ kid: undefined, reason: 'kid is not a string' }]);
    expect(verdict(rsa({ alg: ['RS256'] }))).toBe('alg is not a string');
  });

  it('drops symmetric keys, and keys for another use or without verify among their key_ops', () => {
    expect(verdict({ kty: 'oct', k: 'c2VjcmV0' })).toBe('symmetric (oct) key');
    expect(verdict(rsa({ use: 'enc' }))).toBe('use is "enc", not "sig"');
    expect(verdict(rsa({ use: null }))).toBe('use is null, not "sig"');
    expect(verdict(rsa({ use: 'sig' }))).toBe('accepted');
    expect(verdict(rsa({ key_ops: ['encrypt', 'sign'] }))).toBe('key_ops does not include "verify"');
    expect(verdict(rsa({ key_ops: 'verify' }))).toBe('key_ops does not include "verify"'); // a string is not a list
    expect(verdict(rsa({ key_ops: ['sign', 'verify'] }))).toBe('accepted');
  });

  it.each(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])('drops a key carrying the private parameter %s', (part) => {
    expect(verdict(rsa({ [part]: 'AQAB' }))).toBe('contains private key parameters');
  });

  it('checks an RSA key for n and e in base64url and a modulus of at least 2048 bits', () => {
    for (const [n, e] of [
      [undefined, 'AQAB'],
      [N, undefined],
      ['', 'AQAB'],
      [N, 7],
      [`${N}=`, 'AQAB'],
      [`+${N}`, 'AQAB'],
      [N, 'AQ/B'],
    ]) {
      expect(verdict(rsa({ n, e })), `${String(n).slice(0, 4)} ${String(e)}`).toBe('RSA key without valid n/e');
    }
    expect(verdict(rsa({ n: modulus(2047) }))).toBe('RSA modulus is 2047 bits, under 2048');
    expect(verdict(rsa({ n: modulus(2041) }))).toBe('RSA modulus is 2041 bits, under 2048');
    expect(verdict(rsa({ n: modulus(2047, 2) }))).toBe('RSA modulus is 2047 bits, under 2048');
    expect(verdict(rsa({ n: 'AAAA' }))).toBe('RSA modulus is 0 bits, under 2048');
    expect(verdict(rsa({ n: modulus(2048) }))).toBe('accepted');
    expect(verdict(rsa({ n: modulus(2048, 1) }))).toBe('accepted'); // leading zero octets do not count
    expect(verdict(rsa({ n: modulus(4096) }))).toBe('accepted');
  });

  it('checks an EC key for one of the three curves and x, y in base64url', () => {
    for (const crv of ['P-256', 'P-384', 'P-521']) expect(verdict({ kty: 'EC', crv, x: X, y: Y })).toBe('accepted');
    expect(verdict({ kty: 'EC', crv: 'secp256k1', x: X, y: Y })).toBe('unsupported EC curve "secp256k1"');
    expect(verdict({ kty: 'EC', x: X, y: Y })).toBe('unsupported EC curve undefined');
    expect(verdict({ kty: 'EC', crv: 'P-256', x: X })).toBe('EC key without valid x/y');
    expect(verdict({ kty: 'EC', crv: 'P-256', y: Y })).toBe('EC key without valid x/y');
  });

  it('checks an OKP key for Ed25519 and x in base64url', () => {
    expect(verdict({ kty: 'OKP', crv: 'Ed25519', x: X })).toBe('accepted');
    expect(verdict({ kty: 'OKP', crv: 'X25519', x: X })).toBe('unsupported OKP curve "X25519"');
    expect(verdict({ kty: 'OKP', crv: 'Ed25519' })).toBe('OKP key without valid x');
    expect(verdict({ kty: 'OKP', crv: 'Ed25519', x: `${X}.` })).toBe('OKP key without valid x');
  });

  it('names an unknown kty', () => {
    expect(verdict({ kty: 'rsa', n: N, e: 'AQAB' })).toBe('unsupported kty "rsa"');
    expect(verdict({ n: N, e: 'AQAB' })).toBe('unsupported kty undefined');
  });

  it('keeps the public parameters, kid and alg of an accepted key, and nothing else', () => {
    const extras = { use: 'sig', key_ops: ['verify'], x5c: ['MIIB'], ext: true };
    const { accepted } = filterJwks({
      keys: [
        rsa({ kid: 'r', alg: 'RS256', ...extras }),
        { kty: 'EC', crv: 'P-384', x: X, y: Y, ...extras },
        { kty: 'OKP', crv: 'Ed25519', x: X, kid: 'o', ...extras },
      ],
    });
    expect(accepted).toStrictEqual([
      { kid: 'r', alg: 'RS256', jwk: { kty: 'RSA', n: N, e: 'AQAB' } },
      { jwk: { kty: 'EC', crv: 'P-384', x: X, y: Y } },
      { kid: 'o', jwk: { kty: 'OKP', crv: 'Ed25519', x: X } },
    ]);
  });

  it('keeps the first acceptable key of a kid: a dropped twin before it does not shadow it', () => {
    const { accepted, dropped } = filterJwks({
      keys: [
        rsa({ kid: 'a', use: 'enc' }),
        rsa({ kid: 'a', alg: 'RS256' }),
        rsa({ kid: 'a', alg: 'PS256' }),
        { kty: 'OKP', crv: 'Ed25519', x: X },
        { kty: 'OKP', crv: 'Ed25519', x: Y },
      ],
    });
    expect(accepted.map((k) => [k.kid, k.alg])).toEqual([
      ['a', 'RS256'],
      [undefined, undefined],
      [undefined, undefined],
    ]);
    expect(dropped).toStrictEqual([
      { kid: 'a', reason: 'use is "enc", not "sig"' },
      { kid: 'a', reason: 'duplicate kid (the first key with this kid is used)' },
    ]);
  });
});
