import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, harness, makeKey, stopManagers, type Harness } from './helpers.js';

let dir: string;
let h: Harness;
let firstDup: JWK;
let secrets: string[];

beforeAll(async () => {
  const [rsa, opsOk, dup1, dup2, ec384, ed, enc, ops, priv] = await Promise.all([
    makeKey('RS256', 'rsa'),
    makeKey('RS256', 'ops-ok'),
    makeKey('ES256', 'dup'),
    makeKey('ES256', 'dup'),
    makeKey('ES384', 'ec384'),
    makeKey('EdDSA', 'ed'),
    makeKey('RS256', 'enc'),
    makeKey('ES256', 'ops'),
    makeKey('RS256', 'priv'),
  ]);
  firstDup = dup1.jwk;
  const privateJwk = await exportJWK(priv.privateKey);
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  secrets = [privateJwk.d!, privateJwk.p!, 'c2VjcmV0LXNlY3JldC1zZWNyZXQ'];
  const b64zero = Buffer.alloc(32).toString('base64url');
  const keys = [
    { ...rsa.jwk, alg: 'RS256' },
    { ...opsOk.jwk, use: undefined, key_ops: ['verify'] },
    dup1.jwk,
    dup2.jwk, // same kid: dropped, the first wins
    ec384.jwk,
    ed.jwk,
    { ...enc.jwk, use: 'enc' },
    { ...ops.jwk, use: undefined, key_ops: ['encrypt'] },
    { ...privateJwk, kid: 'priv' },
    { ...small, kid: 'small' },
    { kty: 'oct', kid: 'oct', k: secrets[2] },
    { kty: 'OKP', crv: 'X25519', kid: 'x25519', x: ed.jwk.x },
    { kty: 'foo', kid: 'weird' },
    // Well-formed, but (0, 0) is not a point on P-256: node cannot import it.
    { kty: 'EC', crv: 'P-256', kid: 'bad-point', x: b64zero, y: b64zero, use: 'sig' },
  ];
  dir = await mkdtemp(join(tmpdir(), 'tollgate-filter-'));
  await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys }));
  h = harness({ file: join(dir, 'jwks.json') });
  await h.manager.start();
});

afterAll(async () => {
  stopManagers();
  await rm(dir, { recursive: true, force: true });
});

const get = (alg: string, kid?: string) => h.manager.getKey(kid === undefined ? { alg } : { alg, kid });

describe('key filtering', () => {
  it.each([
    ['enc', /use is "enc"/],
    ['ops', /key_ops does not include "verify"/],
    ['priv', /private key parameters/],
    ['small', /RSA modulus is 1024 bits, under 2048/],
    ['oct', /symmetric/],
    ['x25519', /unsupported OKP curve/],
    ['weird', /unsupported kty/],
    ['bad-point', /key material could not be imported/],
  ])('drops %s, logged once with provider, kid and reason', async (kid, reason) => {
    expect(await codeOf(get('RS256', kid))).toBe('unknown_key');
    const lines = h.logs.filter((l) => l.kid === kid);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ provider: 'idp', kid, reason: expect.stringMatching(reason) });
  });

  it("logs a key that fits none of the provider's algorithms once, and keeps its kid known", async () => {
    expect(h.logs.filter((l) => l.kid === 'ec384')).toEqual([
      expect.objectContaining({ provider: 'idp', reason: "fits none of the provider's algorithms" }),
    ]);
    expect(await codeOf(get('ES256', 'ec384'))).toBe('alg_mismatch');
  });

  it('never logs key material', () => {
    const text = JSON.stringify(h.logs);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  it('keeps the first of duplicate kids, in file order, and logs the duplicate', async () => {
    const key = await get('ES256', 'dup');
    expect(key.id).toBe(`dup#${await calculateJwkThumbprint(firstDup)}`);
    expect(h.logs.filter((l) => l.kid === 'dup')).toEqual([expect.objectContaining({ reason: expect.stringMatching(/duplicate kid/) })]);
  });

  it('refuses a key whose type or pinned alg does not fit the header alg', async () => {
    expect(await codeOf(get('ES256', 'rsa'))).toBe('alg_mismatch'); // RSA key, ES256 header
    expect(await codeOf(get('ES256', 'ec384'))).toBe('alg_mismatch'); // P-384 key, ES256 header
    expect(await codeOf(get('ES384', 'ec384'))).toBe('alg_mismatch'); // ES384 not in provider.algorithms
    expect(await codeOf(get('HS256', 'oct'))).toBe('alg_mismatch');
  });

  it('serves fitting keys: kid lookup, and no kid only when exactly one key fits', async () => {
    expect((await get('RS256', 'rsa')).id).toMatch(/^rsa#/);
    expect((await get('RS256', 'ops-ok')).id).toMatch(/^ops-ok#/);
    expect((await get('EdDSA')).id).toMatch(/^ed#/);
    expect((await get('ES256')).id).toMatch(/^dup#/);
    expect(await codeOf(get('RS256'))).toBe('unknown_key'); // two RSA keys fit
    expect(h.manager.status().keys).toBe(4); // rsa, ops-ok, dup, ed
  });

  it('does not log again when a reload finds the same content', async () => {
    const before = h.logs.length;
    await h.manager.refresh();
    expect(h.logs.length).toBe(before);
  });
});
