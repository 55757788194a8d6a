import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';

describe('token size metrics', () => {
  let key: TestKey;
  let jwksServer: TestHttpServer;
  let tg: RunningTollgate;

  const tokenOfAbout = async (bytes: number) => {
    const base = await mint(ISSUER, 'api', { key, now: nowSeconds(tg.clock) });
    // base64url grows 4/3: pad the payload so the whole token lands near `bytes`.
    const pad = 'x'.repeat(Math.max(0, Math.floor(((bytes - base.length) * 3) / 4) - 12));
    return mint(ISSUER, 'api', { key, claims: { pad }, now: nowSeconds(tg.clock) });
  };
  const sample = async (name: string, labels: Record<string, string>) => {
    // Histogram values carry their series name (`_count`, `_sum`, `_bucket`); counters do not.
    const values = ((await tg.app.registry.getSingleMetric(name)?.get())?.values ?? []) as Array<{
      value: number;
      labels: Record<string, unknown>;
      metricName?: string;
    }>;
    return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  };

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    tg = await startTollgate({
      providers: [{ name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks` } }],
      limits: { maxTokenBytes: 1024 },
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
  });

  it('observes every token by provider, and counts those near or over limits.maxTokenBytes', async () => {
    const small = await mint(ISSUER, 'api', { key, now: nowSeconds(tg.clock) });
    const near = await tokenOfAbout(950);
    const over = await tokenOfAbout(1500);
    expect(small.length).toBeLessThan(0.8 * 1024);
    expect(near.length).toBeGreaterThanOrEqual(0.8 * 1024);
    expect(near.length).toBeLessThanOrEqual(1024);
    expect(over.length).toBeGreaterThan(1024);

    for (const token of [small, near])
      expect((await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }))).status?.code).toBe(0);
    const denied = await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${over}` } }));
    expect(deniedBody(denied)).toMatchObject({ reason: 'token_too_large' });

    const count = await sample('tollgate_token_bytes', { provider: 'idp' });
    expect(count.find((v) => v.metricName === 'tollgate_token_bytes_count')?.value).toBe(2);
    expect(count.find((v) => v.metricName === 'tollgate_token_bytes_sum')?.value).toBe(small.length + near.length);
    expect((await sample('tollgate_token_near_limit_total', { provider: 'idp' }))[0]?.value).toBe(1);
    // Too large to read: the issuer is unknown, so the provider label is empty.
    expect((await sample('tollgate_token_near_limit_total', { provider: '' }))[0]?.value).toBe(1);
  });
});
