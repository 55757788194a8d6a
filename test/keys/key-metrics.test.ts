/**
 * The key metrics tell the truth in every state a provider's keys can be in: never loaded, fresh,
 * stale (refreshes failing, the last good set still served) and withheld (failing past
 * maxStaleSeconds). An alert on `tollgate_jwks_stale == 1` or `tollgate_jwks_keys == 0` must fire in
 * each state where tokens of that provider are, or may soon be, refused.
 */
import type { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServers, harness, json, jwks, makeKey, startServer, stopManagers } from './helpers.js';

afterEach(async () => {
  stopManagers();
  await closeServers();
});

/** Every series of the provider's key metrics, as `name{labels}` → value, read from the exposition text. */
async function keySeries(registry: Registry, provider: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await registry.metrics()).split('\n')) {
    const match = /^(tollgate_jwks_\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || !match[2]!.includes(`provider="${provider}"`)) continue;
    const labels = match[2]!
      .split(',')
      .filter((l) => !l.startsWith('provider='))
      .join(',');
    out[labels ? `${match[1]}{${labels}}` : match[1]!] = Number(match[3]);
  }
  return out;
}

const states = (state: string) => ({
  'tollgate_jwks_state{state="never_loaded"}': state === 'never_loaded' ? 1 : 0,
  'tollgate_jwks_state{state="fresh"}': state === 'fresh' ? 1 : 0,
  'tollgate_jwks_state{state="stale"}': state === 'stale' ? 1 : 0,
  'tollgate_jwks_state{state="withheld"}': state === 'withheld' ? 1 : 0,
});

describe('key metrics in each key state', () => {
  it('never loaded: stale 1, no usable keys, last success 0, every refresh result series present', async () => {
    const server = await startServer();
    await server.down();
    const { manager, registry } = harness({ uri: `${server.origin}/jwks` });
    await manager.start();
    expect(manager.status()).toMatchObject({ state: 'never_loaded', keys: 0, ready: false });
    expect(await keySeries(registry, 'idp')).toEqual({
      'tollgate_jwks_refresh_total{result="success"}': 0,
      'tollgate_jwks_refresh_total{result="not_modified"}': 0,
      'tollgate_jwks_refresh_total{result="error"}': 1,
      tollgate_jwks_keys: 0,
      tollgate_jwks_last_success_timestamp_seconds: 0,
      tollgate_jwks_stale: 1,
      ...states('never_loaded'),
    });
  });

  it('fresh, then stale, then withheld past maxStaleSeconds, then fresh again', async () => {
    const key = await makeKey('ES256', 'k1');
    const server = await startServer(json(jwks(key)));
    const { manager, registry, clock } = harness({ uri: `${server.origin}/jwks`, maxStaleSeconds: 600 });
    await manager.start();
    const loadedAt = clock.now() / 1000;
    expect(await keySeries(registry, 'idp')).toMatchObject({
      tollgate_jwks_keys: 1,
      tollgate_jwks_stale: 0,
      tollgate_jwks_last_success_timestamp_seconds: loadedAt,
      ...states('fresh'),
    });

    await server.down();
    await manager.refresh().catch(() => undefined);
    expect(await keySeries(registry, 'idp')).toMatchObject({ tollgate_jwks_keys: 1, tollgate_jwks_stale: 1, ...states('stale') });

    clock.advance(600_000); // no refresh in between: only time passes, and the scrape must see it
    expect(manager.status()).toMatchObject({ state: 'withheld', keys: 0, ready: false });
    expect(await keySeries(registry, 'idp')).toMatchObject({
      tollgate_jwks_keys: 0,
      tollgate_jwks_stale: 1,
      tollgate_jwks_last_success_timestamp_seconds: loadedAt,
      ...states('withheld'),
    });

    await server.up();
    await manager.refresh();
    expect(await keySeries(registry, 'idp')).toMatchObject({ tollgate_jwks_keys: 1, tollgate_jwks_stale: 0, ...states('fresh') });
  });

  it('a stopped provider leaves no gauge series behind', async () => {
    const server = await startServer(json(jwks(await makeKey('ES256', 'k1'))));
    const { manager, registry } = harness({ uri: `${server.origin}/jwks` });
    await manager.start();
    manager.stop();
    const series = await keySeries(registry, 'idp');
    expect(Object.keys(series).filter((name) => !name.startsWith('tollgate_jwks_refresh_total'))).toEqual([]);
  });
});
