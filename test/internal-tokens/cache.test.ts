/**
 * The minted-token cache: reuse while more than a fifth of the lifetime remains, never past the
 * external token's exp, emptied on a key change and for a revoked subject (Oathkeeper #763).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InternalTokens, type InternalTokenSpec } from '../../src/internal-tokens/index.js';
import { rotateKeys } from '../../src/internal-tokens/rotate.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRevocationStore, parseRevocationConfig, type RevocationStore } from '../../src/revocation/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { waitFor } from '../helpers/time.js';

/** The DER does not matter to an unbound minter; only the SPIFFE ID does. */
const CALLER = { id: 'spiffe://test.local/ns/edge/sa/gateway', certificate: Buffer.from('gateway') };
const SPEC: InternalTokenSpec = { audience: 'orders.shop.svc', exchange: false };
const START = Date.UTC(2026, 10, 23, 12, 0, 0);

let dir: string;
let clock: ManualClock;
let tokens: InternalTokens;
let store: RevocationStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-mint-cache-'));
  clock = new ManualClock(START);
  await rotateKeys(dir, { algorithm: 'ES256', publishAheadSeconds: 60, ttlSeconds: 120, nowSeconds: START / 1000 - 3600 });
  const deps = { logger: createLogger('silent'), registry: new Registry(), clock };
  tokens = new InternalTokens(
    {
      issuer: 'https://gw',
      keysDir: dir,
      algorithm: 'ES256',
      ttlSeconds: 100,
      header: 'authorization',
      claims: ['roles'],
      publishAheadSeconds: 60,
      maxChainDepth: 4,
      bindToCaller: false,
    },
    deps,
  ).start(20);
  store = createRevocationStore(parseRevocationConfig({ store: 'memory' }), deps);
  await store.start();
});

afterEach(async () => {
  tokens.stop();
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
});

const now = () => Math.floor(clock.now() / 1000);
const revoked = (claims: { sub: string; iat: number; jti: string }) => store.check(claims).revoked !== null;

function issue(sub = 'alice', exp = now() + 3600): string {
  const result = tokens.issue(SPEC, { sub, exp, roles: ['buyer'] }, CALLER, revoked);
  if (!result.ok) throw new Error(result.detail);
  return result.value;
}

describe('minted-token cache', () => {
  it('never hands a token minted for audience A to a request for audience B (same subject, claims, actor and key)', () => {
    const mintFor = (audience: string) => {
      const result = tokens.issue({ audience, exchange: false }, { sub: 'alice', exp: now() + 3600, roles: ['buyer'] }, CALLER, revoked);
      if (!result.ok) throw new Error(result.detail);
      return result.value.replace(/^Bearer /, '');
    };
    const forA = mintFor('orders.shop.svc');
    const forB = mintFor('payments.shop.svc');
    expect(forB).not.toBe(forA);
    expect(decodeJwt(forA).aud).toBe('orders.shop.svc');
    expect(decodeJwt(forB).aud).toBe('payments.shop.svc');
    // Each is still reused for its own audience.
    expect(mintFor('orders.shop.svc')).toBe(forA);
    expect(mintFor('payments.shop.svc')).toBe(forB);
  });

  it('reuses a token until less than a fifth of its lifetime remains', () => {
    const first = issue();
    clock.advance(79_000);
    expect(issue()).toBe(first);
    clock.advance(1_000); // 80 of 100 s gone: a fifth remains
    expect(issue()).not.toBe(first);
  });

  it('never outlives the external token, and keys by subject, claims and actor', () => {
    const short = issue('alice', now() + 30);
    expect(decodeJwt(short.slice(7)).exp).toBe(now() + 30);
    const long = issue('bob');
    expect(issue('bob', now() + 20)).not.toBe(long); // the cached one would outlive this external token
    const other = tokens.issue(
      SPEC,
      { sub: 'carol', exp: now() + 3600, roles: ['buyer'] },
      { id: 'spiffe://test.local/ns/edge/sa/other', certificate: Buffer.from('other') },
    );
    const mine = tokens.issue(SPEC, { sub: 'carol', exp: now() + 3600, roles: ['buyer'] }, CALLER);
    expect(other.ok && mine.ok && other.value !== mine.value).toBe(true);
  });

  it('drops the cached token of a subject revoked since, and signs a fresh one', async () => {
    const before = issue();
    await store.revoke({ type: 'sub', value: 'alice', reason: 'test' });
    clock.advance(2_000); // past the cut-off second
    const after = issue();
    expect(after).not.toBe(before);
    expect(store.check(decodeJwt(after.slice(7)) as { sub: string; iat: number }).revoked).toBeNull();
  });

  it('empties entries of a removed key at once', async () => {
    const before = issue();
    const oldKid = decodeProtectedHeader(before.slice(7)).kid!;
    const { added } = await rotateKeys(dir, { algorithm: 'ES256', publishAheadSeconds: 60, ttlSeconds: 120, nowSeconds: now() });
    expect(issue()).toBe(before); // the new key is published, not signing yet: the cache still serves
    rmSync(join(dir, `${oldKid}.json`));
    await waitFor('the removed key dropped', () => decodeProtectedHeader(issue().slice(7)).kid === added);
  });
});
