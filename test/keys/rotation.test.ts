import { SignJWT, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  closeServers,
  codeOf,
  count,
  harness,
  json,
  jwks,
  makeKey,
  startServer,
  stopManagers,
  type TestKey,
  type TestServer,
} from './helpers.js';

let server: TestServer;
let k1: TestKey;
let k2: TestKey;

beforeEach(async () => {
  [k1, k2] = await Promise.all([makeKey('RS256', 'k1'), makeKey('ES256', 'k2')]);
  server = await startServer(json(jwks(k1)));
});
afterEach(async () => {
  stopManagers();
  await closeServers();
});

const uri = () => `${server.origin}/jwks`;

describe('rotation drill', () => {
  it('resolves a newly published kid with one fetch, and drops a removed key on refresh', async () => {
    const { manager } = harness({ uri: uri() });
    const changes: number[] = [];
    manager.onChange(() => changes.push(manager.status().keys));
    await manager.start();
    expect(manager.status()).toMatchObject({ provider: 'idp', ready: true, keys: 1, stale: false });

    const old = await manager.getKey({ alg: 'RS256', kid: 'k1' });
    const token = await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(k1.privateKey);
    await expect(jwtVerify(token, old.key)).resolves.toBeTruthy();

    server.handler = json(jwks(k1, k2));
    const fresh = await manager.getKey({ alg: 'ES256', kid: 'k2' });
    expect(count(server)).toBe(2); // initial load + exactly one unknown-kid fetch
    expect(fresh.id).toMatch(/^k2#/);

    server.handler = json(jwks(k2));
    await manager.refresh();
    expect(await codeOf(manager.getKey({ alg: 'RS256', kid: 'k1' }))).toBe('unknown_key');
    expect(manager.isCurrent(old.id)).toBe(false);
    expect(manager.isCurrent(fresh.id)).toBe(true);
    expect(changes).toEqual([1, 2, 1]); // first load, k2 added, k1 removed
  });

  it('does not fire onChange or re-import when the document is unchanged', async () => {
    const { manager, registry } = harness({ uri: uri() });
    await manager.start();
    const before = await manager.getKey({ alg: 'RS256', kid: 'k1' });
    let changed = 0;
    const unsubscribe = manager.onChange(() => changed++);
    await manager.refresh();
    expect(changed).toBe(0);
    expect(await manager.getKey({ alg: 'RS256', kid: 'k1' })).toBe(before);
    expect(await registry.getSingleMetricAsString('tollgate_jwks_refresh_total')).toContain(
      'tollgate_jwks_refresh_total{provider="idp",result="not_modified"} 1',
    );
    unsubscribe();
  });
});

describe('unknown-kid storm', () => {
  it('1,000 concurrent random kids cause at most one fetch, and kids stay remembered', async () => {
    const { manager, clock } = harness({ uri: uri(), unknownKidCooldownSeconds: 30 });
    await manager.start();
    const storm = () => Promise.all(Array.from({ length: 1000 }, () => codeOf(manager.getKey({ alg: 'RS256', kid: crypto.randomUUID() }))));

    expect(new Set(await storm())).toEqual(new Set(['unknown_key']));
    expect(count(server)).toBeLessThanOrEqual(2);
    await storm(); // same cooldown window: no fetch at all
    expect(count(server)).toBeLessThanOrEqual(2);

    clock.advance(31_000);
    await codeOf(manager.getKey({ alg: 'RS256', kid: 'new-after-cooldown' }));
    expect(count(server)).toBe(3);
    await codeOf(manager.getKey({ alg: 'RS256', kid: 'new-after-cooldown' })); // negative cache
    expect(count(server)).toBe(3);
  });
});

describe('outage drill', () => {
  it('serves the last good set until maxStaleSeconds, then fails closed, then recovers', async () => {
    const { manager, clock, registry } = harness({ uri: uri(), maxStaleSeconds: 3600 });
    await manager.start();
    const key = await manager.getKey({ alg: 'RS256', kid: 'k1' });

    await server.down();
    await expect(manager.refresh()).rejects.toThrow(/fetch failed/);
    expect(manager.status()).toMatchObject({ ready: true, stale: true, keys: 1 });
    clock.advance(3599_000);
    expect(await manager.getKey({ alg: 'RS256', kid: 'k1' })).toBe(key);
    expect(await registry.getSingleMetricAsString('tollgate_jwks_stale')).toContain('{provider="idp"} 1');

    clock.advance(1_000);
    expect(await codeOf(manager.getKey({ alg: 'RS256', kid: 'k1' }))).toBe('keys_unavailable');
    expect(manager.isCurrent(key.id)).toBe(false);
    expect(manager.status()).toMatchObject({ ready: false, stale: true });
    expect(manager.status().lastError).toMatch(/fetch failed/);

    await server.up();
    await manager.refresh();
    expect(manager.status()).toMatchObject({ ready: true, stale: false, lastError: undefined });
    expect(manager.status().lastSuccessMs).toBe(clock.now());
    expect((await manager.getKey({ alg: 'RS256', kid: 'k1' })).id).toBe(key.id);
    expect(await registry.getSingleMetricAsString('tollgate_jwks_stale')).toContain('{provider="idp"} 0');
  });

  it('reports not ready when the very first load fails', async () => {
    await server.down();
    const { manager } = harness({ uri: uri() });
    await manager.start(); // resolves after the failed attempt
    expect(manager.status()).toMatchObject({ ready: false, keys: 0 });
    expect(await codeOf(manager.getKey({ alg: 'RS256', kid: 'k1' }))).toBe('keys_unavailable');
  });
});

describe('background refresh', () => {
  it('honours Cache-Control max-age, clamped to maxRefreshSeconds', async () => {
    server.handler = json(jwks(k1), { 'cache-control': 'public, max-age=3600' });
    const { manager } = harness({ uri: uri(), minRefreshSeconds: 0.05, refreshSeconds: 0.1, maxRefreshSeconds: 0.1 });
    const second = server.nextRequest().then(() => server.nextRequest());
    await manager.start();
    await second; // a one-hour max-age would never get here; the 0.1 s clamp does
    expect(count(server)).toBeGreaterThanOrEqual(2);
  });

  it('stop() aborts an in-flight fetch and ends the timers', async () => {
    const { manager } = harness({ uri: uri(), timeoutSeconds: 30 });
    await manager.start();
    server.handler = () => {}; // never answers
    const pending = manager.refresh();
    await server.nextRequest();
    manager.stop();
    await expect(pending).resolves.toBeUndefined();
    manager.stop(); // idempotent
  });

  it('shares one registry between providers', async () => {
    const a = harness({ uri: uri() }, { name: 'a' });
    const b = harness({ uri: uri() }, { name: 'b' }, { registry: a.registry });
    await Promise.all([a.manager.start(), b.manager.start()]);
    const text = await a.registry.getSingleMetricAsString('tollgate_jwks_keys');
    expect(text).toContain('tollgate_jwks_keys{provider="a"} 1');
    expect(text).toContain('tollgate_jwks_keys{provider="b"} 1');
  });
});
