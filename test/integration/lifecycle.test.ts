import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { fromStruct } from '../../src/envoy/types.js';
import { checkRequest, deniedBody, HealthClient } from '../helpers/envoy-client.js';
import { startHttpServer, startJwksServer } from '../helpers/http-server.js';
import { jwks, mint, testKey } from '../helpers/keys.js';
import { waitFor } from '../helpers/time.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const provider = (jwksUri: string) => ({
  name: 'idp',
  issuer: ISSUER,
  audiences: ['api'],
  algorithms: ['ES256'],
  jwks: { uri: jwksUri, unknownKidCooldownSeconds: 10 },
});
const everything = [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }];

async function metric(tg: RunningTollgate, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
  const match = pattern.exec(text);
  return match ? Number(match[1]) : 0;
}

describe('key rotation through Check', () => {
  let tg: RunningTollgate | undefined;
  afterEach(async () => tg?.close());

  it('accepts a newly published key on its first request, and stops trusting a removed key, cached tokens included', async () => {
    const oldKey = await testKey('ES256');
    const newKey = await testKey('ES256');
    const server = await startJwksServer(jwks(oldKey));
    tg = await startTollgate({ providers: [provider(`${server.url}/jwks`)], rules: everything });
    const clock = tg.clock;
    const check = (token: string) => tg!.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));
    const oldToken = await mint(ISSUER, 'api', { key: oldKey, now: nowSeconds(clock) });

    expect((await check(oldToken)).status?.code).toBe(0);
    expect((await check(oldToken)).status?.code).toBe(0); // served from the verified-token cache
    expect(await metric(tg, /tollgate_token_cache_total\{result="hit"\} (\d+)/)).toBeGreaterThanOrEqual(1);
    expect(await metric(tg, /tollgate_token_cache_entries (\d+)/)).toBe(1);

    // The IdP publishes a new key and retires the old one in the same document.
    server.set(jwks(newKey));
    const newToken = await mint(ISSUER, 'api', { key: newKey, now: nowSeconds(clock) });
    expect((await check(newToken)).status?.code).toBe(0); // unknown kid: one refetch, no restart

    const denied = await check(oldToken);
    expect(denied.status?.code).toBe(16);
    expect(deniedBody(denied).reason).toBe('unknown_key');
    await server.close();
  });

  it('denies a token that expires while its new key is fetched: the time claims are checked again after the fetch', async () => {
    const oldKey = await testKey('ES256');
    const newKey = await testKey('ES256');
    let published = jwks(oldKey);
    let duringFetch = () => {};
    const server = await startHttpServer((_req, res) => {
      duringFetch();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(published));
    });
    tg = await startTollgate({ providers: [{ ...provider(`${server.url}/jwks`), clockSkewSeconds: 0 }], rules: everything });
    const clock = tg.clock;
    const token = await mint(ISSUER, 'api', { key: newKey, now: nowSeconds(clock), ttlSeconds: 60 });
    // Valid when it arrives; its kid is unknown, so tollgate fetches the JWKS, which takes past its exp.
    published = jwks(oldKey, newKey);
    duringFetch = () => clock.advance(61_000);
    const response = await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));
    expect(response.status?.code).toBe(16);
    expect(deniedBody(response)).toEqual({ error: 'unauthenticated', reason: 'expired' });
    await server.close();
  });

  it('fails closed once the JWKS has been unreachable for maxStaleSeconds; with readiness.requireProviderKeys it leaves rotation', async () => {
    const key = await testKey('ES256');
    const server = await startJwksServer(jwks(key));
    tg = await startTollgate({
      providers: [
        { ...provider(`${server.url}/jwks`), jwks: { uri: `${server.url}/jwks`, maxStaleSeconds: 600, unknownKidCooldownSeconds: 10 } },
      ],
      rules: everything,
      tokenCache: { maxEntries: 0 },
      readiness: { requireProviderKeys: true },
    });
    const check = async () =>
      tg!.client.check(
        checkRequest({ headers: { authorization: `Bearer ${await mint(ISSUER, 'api', { key, now: nowSeconds(tg!.clock) })}` } }),
      );
    await server.close();
    // A refresh attempt fails (an unknown kid triggers one): the last good keys keep serving.
    await tg.client.check(
      checkRequest({
        headers: { authorization: `Bearer ${await mint(ISSUER, 'api', { key, header: { kid: 'unknown' }, now: nowSeconds(tg.clock) })}` },
      }),
    );
    expect((await check()).status?.code).toBe(0);

    const health = new HealthClient(tg.app.grpcPort);
    expect(await health.status('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    tg.clock.advance(601_000);
    const denied = await check();
    expect(deniedBody(denied).reason).toBe('keys_unavailable');
    // gRPC health follows readiness (for Kubernetes' readiness probe and Envoy's cluster health check);
    // liveness ("") stays SERVING: restarting would not bring the IdP back.
    await waitFor(
      'readiness to reach gRPC health',
      async () => (await health.status('envoy.service.auth.v3.Authorization')) === 'NOT_SERVING',
      { timeoutMs: 5000, intervalMs: 50 },
    );
    expect(await health.status('')).toBe('SERVING');
    health.close();
    const ready = await fetch(`http://127.0.0.1:${tg.app.httpPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      ready: false,
      checks: { 'provider:idp': { ready: false, keys: 'withheld', usableKeys: 0 } },
    });
  });
});

describe('config reload', () => {
  let tg: RunningTollgate | undefined;
  afterEach(async () => tg?.close());

  it('applies a valid change, rejects an invalid one and keeps serving the old config', async () => {
    const key = await testKey('ES256');
    const server = await startJwksServer(jwks(key));
    const base = {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0' },
      providers: [provider(`${server.url}/jwks`)],
    };
    tg = await startTollgate({ providers: base.providers, rules: everything });
    const configPath = join(tg.dir, 'tollgate.yaml');
    const publicCheck = () => tg!.client.check(checkRequest({ path: '/public/x' }));
    expect((await publicCheck()).status?.code).toBe(16);

    writeFileSync(
      configPath,
      stringify({ ...base, rules: [{ id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } }, ...everything] }),
    );
    await tg.app.reload();
    expect((await publicCheck()).status?.code).toBe(0);

    writeFileSync(configPath, stringify({ ...base, rules: [{ id: 'broken', match: { paths: ['/a/{x'] }, require: { anonymous: true } }] }));
    await tg.app.reload();
    expect((await publicCheck()).status?.code).toBe(0); // the last good config keeps serving
    expect(await metric(tg, /tollgate_config_reload_total\{result="success"\} (\d+)/)).toBe(1);
    expect(await metric(tg, /tollgate_config_reload_total\{result="error"\} (\d+)/)).toBe(1);
    const rejections = () =>
      tg!.logs.filter(
        (l) => l.msg === 'config reload rejected; the previous config keeps serving' && String(l.err).includes('rules[0].match.paths[0]'),
      ).length;
    expect(rejections()).toBe(1);
    // The watch retrying the same content stays quiet within the minute; an operator's SIGHUP is answered.
    await tg.app.reload('watch');
    expect(rejections()).toBe(1);
    await tg.app.reload('signal');
    expect(rejections()).toBe(2);

    // Valid but without rules: everything is denied, and the log says why.
    writeFileSync(configPath, stringify(base));
    await tg.app.reload();
    expect(deniedBody(await publicCheck()).reason).toBe('no_matching_rule');
    expect(tg.logs.some((l) => l.msg === 'no rules configured: every request gets defaultDecision (deny)')).toBe(true);
    await server.close();
  });
});

describe('listen.authz: off', () => {
  it('opens no HTTP authorization port; gRPC Check and the HTTP port serve as usual', async () => {
    const tg = await startTollgate({ listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: 'off' }, rules: everything });
    try {
      expect(tg.app.authzPort).toBe(0);
      const serving = tg.logs.find((l) => l.msg === 'tollgate serving');
      expect(serving).toMatchObject({ authz: 'off', authzPort: 0 });
      expect((await tg.client.check(checkRequest())).status?.code).toBe(16);
      expect((await fetch(`http://127.0.0.1:${tg.app.httpPort}/healthz`)).status).toBe(200);
    } finally {
      await tg.close();
    }
  });
});

describe('start-up warnings', () => {
  it('says so when a global dry run lets every request through', async () => {
    const tg = await startTollgate({ dryRun: true, rules: everything });
    expect((await tg.client.check(checkRequest())).status?.code).toBe(0); // no token, allowed by the dry run
    expect(tg.logs.some((l) => l.msg === 'dryRun is on: every request is allowed; denials are only logged and counted')).toBe(true);
    await tg.close();
  });
});

describe('config reload during an identity-provider outage', () => {
  let tg: RunningTollgate | undefined;
  afterEach(async () => tg?.close());

  it('keeps the last good keys for providers whose key source did not change', async () => {
    const key = await testKey('ES256');
    const server = await startJwksServer(jwks(key));
    const base = {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0' },
      providers: [provider(`${server.url}/jwks`)],
    };
    tg = await startTollgate({ providers: base.providers, rules: everything, tokenCache: { maxEntries: 0 } });
    const check = async () =>
      tg!.client.check(
        checkRequest({
          path: '/public/x',
          headers: { authorization: `Bearer ${await mint(ISSUER, 'api', { key, now: nowSeconds(tg!.clock) })}` },
        }),
      );
    expect((await check()).status?.code).toBe(0);

    await server.close(); // the IdP goes away
    writeFileSync(
      join(tg.dir, 'tollgate.yaml'),
      stringify({
        ...base,
        tokenCache: { maxEntries: 0 },
        rules: [{ id: 'public', match: { paths: ['/public/**'] }, require: { authenticated: true } }],
      }),
    );
    await tg.app.reload();
    const response = await check();
    expect(response.status?.code).toBe(0);
    expect(fromStruct(response.dynamic_metadata).rule).toBe('public'); // the new policy, the old keys
  });
});

describe('shutdown', () => {
  it('goes NOT_SERVING while still answering, then lets an in-flight check finish', async () => {
    const key = await testKey('ES256');
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    // The JWKS answers the first load at once and holds the unknown-kid refetch until released.
    const server = await startHttpServer((_req, res) => {
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(jwks(key)));
      };
      if (first) {
        first = false;
        answer();
      } else void released.then(answer);
    });
    const tg = await startTollgate({
      providers: [provider(`${server.url}/jwks`)],
      rules: everything,
      shutdown: { notServingSeconds: 2, drainSeconds: 5 },
    });
    const grpcPort = tg.app.grpcPort;
    const token = await mint(ISSUER, 'api', { key, header: { kid: 'rotated-in-later' }, now: nowSeconds(tg.clock) });
    const inflight = tg.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));
    await waitFor('the unknown-kid refetch to reach the JWKS server', () => server.requests.length >= 2, { intervalMs: 0 });

    const health = new HealthClient(grpcPort);
    expect(await health.status('')).toBe('SERVING');
    const stopping = tg.app.stop();
    expect(await health.status('')).toBe('NOT_SERVING');
    expect(await health.status('envoy.service.auth.v3.Authorization')).toBe('NOT_SERVING');
    health.close();
    release();
    const response = await inflight;
    expect(response.status?.code).toBe(16); // a decision, not an RPC error
    await stopping;
    tg.client.close();
    await server.close();
  });
});
