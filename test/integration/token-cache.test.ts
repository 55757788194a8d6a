/**
 * A cached token is still re-checked against time: the cache and the time checks read one injected
 * clock, so moving that clock past `exp` or past `maxTokenAgeSeconds` denies a token the cache holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { mint } from '../helpers/keys.js';
import { es256Provider, nowSeconds, startTollgateWithKey } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const SKEW = 30;
const MAX_AGE = 600;

describe('cached tokens on the injected clock', () => {
  let tg: Awaited<ReturnType<typeof startTollgateWithKey>>;

  beforeAll(async () => {
    tg = await startTollgateWithKey((uri) => ({
      providers: [
        {
          ...es256Provider(ISSUER, 'api', uri),
          clockSkewSeconds: SKEW,
          maxTokenAgeSeconds: MAX_AGE,
        },
      ],
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
    }));
  });
  afterAll(async () => {
    await tg?.close();
  });

  const check = (token: string) => tg.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));
  const cacheLookups = async (result: 'hit' | 'miss') => {
    const text = await (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
    return Number(new RegExp(`^tollgate_token_cache_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const cacheEntries = async () => {
    const text = await (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
    return Number(/^tollgate_token_cache_entries (\d+)$/m.exec(text)?.[1]);
  };
  /** Allows the token twice, the second time from the cache. */
  async function allowFromCache(token: string): Promise<void> {
    expect((await check(token)).status?.code).toBe(0);
    const hits = await cacheLookups('hit');
    expect((await check(token)).status?.code).toBe(0);
    expect(await cacheLookups('hit')).toBe(hits + 1);
  }

  it('denies a cached token as expired once the clock passes exp plus the skew', async () => {
    const issuedAt = nowSeconds(tg.clock);
    const token = await mint(ISSUER, 'api', { key: tg.key, now: issuedAt, ttlSeconds: 60 });
    await allowFromCache(token);

    // Past exp but inside the skew: still valid, yet no longer served from the cache (same clock).
    tg.clock.set((issuedAt + 61) * 1000);
    const hits = await cacheLookups('hit');
    expect((await check(token)).status?.code).toBe(0);
    expect(await cacheLookups('hit')).toBe(hits);

    tg.clock.set((issuedAt + 60 + SKEW) * 1000);
    const expired = await check(token);
    expect(expired.status?.code).toBe(16);
    expect(deniedBody(expired)).toEqual({ error: 'unauthenticated', reason: 'expired' });
  });

  it('denies a cached token as token_too_old once the clock passes maxTokenAgeSeconds plus the skew', async () => {
    const issuedAt = nowSeconds(tg.clock);
    const token = await mint(ISSUER, 'api', { key: tg.key, now: issuedAt, ttlSeconds: 86_400 });
    await allowFromCache(token);

    // On the boundary the token is still young enough, and still a cache hit.
    tg.clock.set((issuedAt + MAX_AGE + SKEW) * 1000);
    await allowFromCache(token);

    tg.clock.advance(1000);
    const entries = await cacheEntries();
    expect(entries).toBeGreaterThan(0);
    const old = await check(token);
    expect(old.status?.code).toBe(16);
    expect(deniedBody(old)).toEqual({ error: 'unauthenticated', reason: 'token_too_old' });
    // The denial dropped the entry, whose exp is hours away.
    expect(await cacheEntries()).toBe(entries - 1);
  });

  it('does not cache a token first seen at or past its exp, inside the skew', async () => {
    for (const pastExpMs of [0, 1000]) {
      const issuedAt = nowSeconds(tg.clock);
      const token = await mint(ISSUER, 'api', { key: tg.key, now: issuedAt, ttlSeconds: 60 });
      tg.clock.set((issuedAt + 60) * 1000 + pastExpMs);
      const hits = await cacheLookups('hit');
      expect((await check(token)).status?.code).toBe(0);
      expect((await check(token)).status?.code).toBe(0);
      expect(await cacheLookups('hit'), `${pastExpMs} ms past exp`).toBe(hits);
    }
  });
});
