/**
 * The minter on its own, on real signing keys in a directory and a manual clock: what it signs with,
 * when it signs nothing, and what its cache keeps (the InternalTokens tests in cache.test.ts see only
 * the tokens handed out).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createInternalTokenMetrics } from '../../src/internal-tokens/metrics.js';
import { TokenMinter, type MintRequest } from '../../src/internal-tokens/minter.js';
import { rotateKeys } from '../../src/internal-tokens/rotate.js';
import { internalTokensSchema, type SigningAlgorithm } from '../../src/internal-tokens/schema.js';
import { SigningKeys } from '../../src/internal-tokens/signing-keys.js';
import { silentLogger } from '../../src/observability/logger.js';
import { ManualClock } from '../../src/util/clock.js';

const START = Date.UTC(2026, 10, 23, 12, 0, 0);
const NOW = START / 1000;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A minter over a keys directory holding one key created an hour ago; ttl 100 s, publish-ahead 60 s. */
async function setup(algorithm: SigningAlgorithm = 'ES256') {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-minter-'));
  const rotate = (nowSeconds: number) => rotateKeys(dir, { algorithm, publishAheadSeconds: 60, ttlSeconds: 100, nowSeconds });
  const { added } = await rotate(NOW - 3600);
  const clock = new ManualClock(START);
  const registry = new Registry();
  const keys = new SigningKeys(dir, algorithm, { logger: silentLogger(), registry, clock }, () => {});
  keys.start(3_600_000); // refreshed by hand below
  cleanups.push(() => {
    keys.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const config = internalTokensSchema.parse({
    issuer: 'https://gw.example.com',
    keysDir: dir,
    algorithm,
    ttlSeconds: 100,
    publishAheadSeconds: 60,
  });
  const minter = new TokenMinter(config, keys, clock, createInternalTokenMetrics(registry));
  /** tollgate_internal_tokens_minted_total by result. */
  const minted = async () => {
    const text = await registry.getSingleMetricAsString('tollgate_internal_tokens_minted_total');
    const count = (result: string) => Number(new RegExp(`result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    return { success: count('success'), error: count('error') };
  };
  return { dir, clock, keys, minter, rotate, first: added, minted };
}

const request = (extra: Partial<MintRequest> = {}): MintRequest => ({
  sub: 'alice',
  audience: 'orders.shop.svc',
  claims: {},
  act: { sub: 'spiffe://test.local/ns/edge/sa/gateway' },
  ...extra,
});
const kidOf = (token: string | undefined) => decodeProtectedHeader(token ?? '').kid;

describe('TokenMinter', () => {
  it.each(['ES256', 'EdDSA', 'RS256'] as const)('signs with %s a token its published key verifies', async (alg) => {
    const { keys, minter } = await setup(alg);
    const token = minter.mint(request());
    const { payload, protectedHeader } = await jwtVerify(token ?? '', createLocalJWKSet(keys.jwks()), {
      algorithms: [alg],
      currentDate: new Date(START),
    });
    expect(protectedHeader).toMatchObject({ alg, typ: 'tollgate-internal+jwt' });
    expect(payload).toMatchObject({ sub: 'alice', aud: 'orders.shop.svc', iat: NOW, exp: NOW + 100 });
  });

  it("reuses a token that expires with the request's own token, and signs none that would expire at once", async () => {
    const { minter, minted } = await setup();
    const first = minter.mint(request({ notAfter: NOW + 50 }));
    expect(minter.mint(request({ notAfter: NOW + 50 }))).toBe(first);
    expect(minter.mint(request({ sub: 'bob', notAfter: NOW }))).toBeUndefined();
    expect(minter.mint(request({ sub: 'bob', notAfter: NOW - 1 }))).toBeUndefined();
    expect(await minted()).toEqual({ success: 1, error: 2 });
  });

  it('signs with a new key only once it has been published publishAheadSeconds', async () => {
    const { clock, keys, minter, rotate, first } = await setup();
    const { added } = await rotate(NOW);
    keys.refresh();
    clock.advance(1_000);
    expect(kidOf(minter.mint(request()))).toBe(first);
    clock.advance(59_000);
    expect(kidOf(minter.mint(request()))).toBe(added);
  });

  it('signs nothing once every key is gone, and counts the error', async () => {
    const { dir, keys, minter, first, minted } = await setup();
    rmSync(join(dir, `${first}.json`));
    keys.refresh();
    expect(minter.mint(request())).toBeUndefined();
    expect(await minted()).toEqual({ success: 0, error: 1 });
  });

  it('keeps the entries of the key named, and drops those of a forgotten subject only', async () => {
    const { minter, first } = await setup();
    minter.mint(request());
    minter.mint(request({ audience: 'payments.shop.svc' }));
    minter.mint(request({ sub: 'bob' }));
    expect(minter.size).toBe(3);
    minter.keepOnlyKey(first);
    expect(minter.size).toBe(3);
    minter.forgetSubject('alice');
    expect(minter.size).toBe(1);
    minter.keepOnlyKey('another-kid');
    expect(minter.size).toBe(0);
  });
});
