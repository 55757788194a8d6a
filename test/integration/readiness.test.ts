/**
 * Readiness means "this replica can answer". One identity provider without keys, or the revocation
 * store every replica shares, must not take the replica (in gateway mode: every replica at once) out
 * of rotation while anonymous routes, peer-only routes and (for a provider) the other providers'
 * tokens are still served; their state shows in /readyz's detail, and tokens are refused meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, healthStatus } from '../helpers/envoy-client.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { waitFor } from '../helpers/time.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';
import { RedisServer } from '../revocation/redis-server.js';

const provider = (name: string, file: string) => ({
  name,
  issuer: `https://${name}.example.com`,
  audiences: ['api'],
  algorithms: ['ES256'],
  jwks: { file },
});
const rules = [
  { id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } },
  { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
];

describe('readiness with one identity provider down', () => {
  let tg: RunningTollgate;
  let key: TestKey;
  beforeAll(async () => {
    key = await testKey('ES256');
    // "down" points at a key file that does not exist: it never loads a key set.
    tg = await startTollgate(
      { providers: [provider('up', 'up-jwks.json'), provider('down', 'missing/jwks.json')], rules },
      { 'up-jwks.json': jwks(key) },
    );
  });
  afterAll(async () => tg?.close());

  it('stays ready over HTTP and gRPC health, and names the provider without keys in the detail', async () => {
    const ready = await fetch(`http://127.0.0.1:${tg.app.httpPort}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { ready: boolean; checks: Record<string, Record<string, unknown>> };
    expect(body.ready).toBe(true);
    expect(body.checks['provider:up']).toEqual({ ready: true, keys: 'fresh', usableKeys: 1 });
    expect(body.checks['provider:down']).toMatchObject({ ready: true, keys: 'never_loaded', usableKeys: 0 });
    expect(body.checks['provider:down']!.detail).toMatch(/no key set loaded yet/);
    expect(await healthStatus(tg.app.grpcPort, 'envoy.service.auth.v3.Authorization')).toBe('SERVING');
  });

  it('keeps answering: the healthy provider and anonymous routes allowed, the broken provider refused', async () => {
    const up = await mint('https://up.example.com', 'api', { key, now: nowSeconds(tg.clock) });
    expect((await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${up}` } }))).status?.code).toBe(0);
    expect((await tg.client.check(checkRequest({ path: '/public/x' }))).status?.code).toBe(0);
    const down = await mint('https://down.example.com', 'api', { key, now: nowSeconds(tg.clock) });
    const denied = await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${down}` } }));
    expect(denied.status?.code).toBe(16);
    expect(deniedBody(denied).reason).toBe('keys_unavailable');
  });

  it('reports the broken provider in the key metrics', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
    expect(metrics).toContain('tollgate_jwks_stale{provider="down"} 1');
    expect(metrics).toContain('tollgate_jwks_keys{provider="down"} 0');
    expect(metrics).toContain('tollgate_jwks_state{provider="down",state="never_loaded"} 1');
    expect(metrics).toContain('tollgate_jwks_stale{provider="up"} 0');
  });
});

describe('readiness.requireProviderKeys: true', () => {
  let tg: RunningTollgate;
  beforeAll(async () => {
    tg = await startTollgate({ providers: [provider('down', 'missing/jwks.json')], rules, readiness: { requireProviderKeys: true } });
  });
  afterAll(async () => tg?.close());

  it('takes the replica out of rotation while a provider has no usable keys', async () => {
    const ready = await fetch(`http://127.0.0.1:${tg.app.httpPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, checks: { 'provider:down': { ready: false, keys: 'never_loaded' } } });
    expect(await healthStatus(tg.app.grpcPort, 'envoy.service.auth.v3.Authorization')).toBe('NOT_SERVING');
  });
});

describe('metric series at start', () => {
  let tg: RunningTollgate;
  beforeAll(async () => {
    tg = await startTollgate({ providers: [provider('down', 'missing/jwks.json')], rules, revocation: { store: 'memory' } });
  });
  afterAll(async () => tg?.close());

  it('exist at 0 before their first event, beside tollgate_build_info', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
    for (const series of [
      'tollgate_config_reload_total{result="success"} 0',
      'tollgate_config_reload_total{result="error"} 0',
      'tollgate_token_cache_total{result="hit"} 0',
      'tollgate_token_cache_total{result="miss"} 0',
      'tollgate_revoked_denials_total{type="jti"} 0',
      'tollgate_revoked_denials_total{type="store_unavailable"} 0',
      'tollgate_jwks_refresh_total{provider="down",result="success"} 0',
      'tollgate_jwks_refresh_total{provider="down",result="not_modified"} 0',
    ]) {
      expect(metrics).toContain(series);
    }
    expect(metrics).toMatch(new RegExp(`tollgate_build_info\\{version="\\d+\\.\\d+\\.\\d+",node="${process.versions.node}"\\} 1`));
  });
});

describe('readiness while the shared revocation store is down', () => {
  const MAX_STALENESS_SECONDS = 5;
  let redis: RedisServer;
  let key: TestKey;
  /** The default, and one with readiness.requireRevocationStore: true, on the same Redis. */
  let fleet: RunningTollgate;
  let strict: RunningTollgate;
  const readyz = async (tg: RunningTollgate) => {
    const response = await fetch(`http://127.0.0.1:${tg.app.httpPort}/readyz`);
    return { status: response.status, body: (await response.json()) as { checks: Record<string, { ready: boolean; detail?: string }> } };
  };
  beforeAll(async () => {
    key = await testKey('ES256');
    redis = await RedisServer.launch({ persistent: true });
    const config = (readiness: object) => ({
      providers: [provider('up', 'jwks.json')],
      rules,
      revocation: {
        store: 'redis',
        maxStalenessSeconds: MAX_STALENESS_SECONDS,
        failClosedAfterSeconds: MAX_STALENESS_SECONDS,
        redis: { url: redis.url, timeoutSeconds: 1 },
      },
      readiness,
    });
    fleet = await startTollgate(config({}), { 'jwks.json': jwks(key) });
    strict = await startTollgate(config({ requireRevocationStore: true }), { 'jwks.json': jwks(key) });
  });
  afterAll(async () => {
    await fleet?.close();
    await strict?.close();
    await redis?.dispose();
  });

  it('keeps the replica in rotation, refusing tokens, unless requireRevocationStore; both recover with the store', async () => {
    for (const tg of [fleet, strict]) expect((await readyz(tg)).status).toBe(200);
    await redis.stop();
    for (const tg of [fleet, strict])
      await waitFor('the store to be seen down', async () => (await readyz(tg)).body.checks.revocation?.detail !== undefined);
    for (const tg of [fleet, strict]) tg.clock.advance((MAX_STALENESS_SECONDS + 1) * 1000);

    const down = await readyz(fleet);
    expect(down.status).toBe(200);
    expect(down.body.checks.revocation).toMatchObject({
      ready: true,
      detail: expect.stringMatching(/past maxStalenessSeconds; past failClosedAfterSeconds, tokens are refused/),
    });
    expect(await healthStatus(fleet.app.grpcPort, 'envoy.service.auth.v3.Authorization')).toBe('SERVING');
    // Fail closed all the same: a token cannot be checked against revocations, so it is refused.
    const token = await mint('https://up.example.com', 'api', { key, now: nowSeconds(fleet.clock) });
    const refused = await fleet.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));
    expect(refused.status?.code).toBe(16);
    expect(deniedBody(refused).reason).toBe('revocation_unavailable');
    expect((await fleet.client.check(checkRequest({ path: '/public/x' }))).status?.code).toBe(0);

    const strictDown = await readyz(strict);
    expect(strictDown.status).toBe(503);
    expect(strictDown.body.checks.revocation?.ready).toBe(false);
    // gRPC health follows readiness on its own timer.
    await waitFor(
      'the strict replica NOT_SERVING',
      async () => (await healthStatus(strict.app.grpcPort, 'envoy.service.auth.v3.Authorization')) === 'NOT_SERVING',
      {
        intervalMs: 50,
      },
    );
    expect(await healthStatus(fleet.app.grpcPort, 'envoy.service.auth.v3.Authorization')).toBe('SERVING');

    await redis.start();
    for (const tg of [fleet, strict])
      await waitFor(
        'the store to be back',
        async () => (await readyz(tg)).status === 200 && (await readyz(tg)).body.checks.revocation?.detail === undefined,
        {
          timeoutMs: 20_000,
          intervalMs: 50,
        },
      );
    const again = await mint('https://up.example.com', 'api', { key, now: nowSeconds(fleet.clock) });
    expect((await fleet.client.check(checkRequest({ headers: { authorization: `Bearer ${again}` } }))).status?.code).toBe(0);
  });
});
