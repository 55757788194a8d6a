import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, deniedHeader } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';
import { RedisServer } from '../revocation/redis-server.js';
import type { CheckResponse } from '../../src/envoy/types.js';
import { waitFor } from '../helpers/time.js';

const ISSUER = 'https://idp.example.com';
const ADMIN_SECRET = 'integration-admin-secret-0123456789';

/**
 * Two tollgate replicas sharing one real Redis, driven as an operator would: revoke through replica A's
 * admin API, and watch replica B deny over its gRPC Check.
 */
describe('revocation across replicas', () => {
  let redis: RedisServer;
  let jwksServer: TestHttpServer;
  let key: TestKey;
  let a: RunningTollgate;
  let b: RunningTollgate;

  beforeAll(async () => {
    redis = await RedisServer.launch();
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    const config = {
      providers: [{ name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks` } }],
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
      revocation: { store: 'redis', redis: { url: redis.url } },
      admin: { tokenFile: 'admin-token' },
    };
    a = await startTollgate(config, { 'admin-token': ADMIN_SECRET });
    b = await startTollgate(config, { 'admin-token': ADMIN_SECRET });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await jwksServer?.close();
    await redis?.dispose();
  });

  const admin = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${a.app.httpPort}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const checkOn = (replica: RunningTollgate, token: string) =>
    replica.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));

  it('a jti revoked through replica A is denied by replica B within a second, cached token included', async () => {
    const token = await mint(ISSUER, 'api', { key, claims: { jti: 'token-1', sub: 'mallory' }, now: nowSeconds(b.clock) });
    expect((await checkOn(b, token)).status?.code).toBe(0);
    expect((await checkOn(b, token)).status?.code).toBe(0); // now a verified-token cache hit on B

    const started = performance.now();
    const response = await admin('/admin/v1/revocations', { type: 'jti', value: 'token-1', reason: 'laptop stolen' });
    expect(response.status).toBe(201);
    let denied!: CheckResponse;
    await waitFor('replica B to deny the revoked jti', async () => (denied = await checkOn(b, token)).status?.code !== 0, {
      timeoutMs: 1000,
      intervalMs: 0,
    });
    const propagationMs = performance.now() - started;
    console.log(`revocation propagation A→B through Redis: ${propagationMs.toFixed(1)} ms`);

    expect(denied.status?.code).toBe(16);
    expect(deniedBody(denied)).toEqual({ error: 'unauthenticated', reason: 'revoked' });
    expect(deniedHeader(denied, 'www-authenticate')).toContain('error="invalid_token"');
    expect(propagationMs).toBeLessThan(1000);
    expect((await checkOn(a, token)).status?.code).toBe(16);
  });

  it('a sub revocation cuts off every earlier token of that user, and not later ones', async () => {
    const earlier = await mint(ISSUER, 'api', { key, claims: { sub: 'eve' }, now: nowSeconds(a.clock) - 60 });
    const response = await admin('/admin/v1/revocations', { type: 'sub', value: 'eve', reason: 'account compromised' });
    expect(response.status).toBe(201);
    let denied!: CheckResponse;
    await waitFor('replica B to deny the revoked subject', async () => (denied = await checkOn(b, earlier)).status?.code !== 0, {
      timeoutMs: 1000,
      intervalMs: 0,
    });
    expect(deniedBody(denied).reason).toBe('revoked');

    for (const replica of [a, b]) replica.clock.advance(5000);
    const later = await mint(ISSUER, 'api', { key, claims: { sub: 'eve' }, now: nowSeconds(b.clock) });
    expect((await checkOn(b, later)).status?.code).toBe(0);
  });

  it('a permission refresh lets earlier tokens through with a refresh signal to the client', async () => {
    const earlier = await mint(ISSUER, 'api', { key, claims: { sub: 'ta-42' }, now: nowSeconds(b.clock) - 60 });
    expect((await admin('/admin/v1/subjects/ta-42/refresh', {})).status).toBe(200);
    const refreshHeader = (r: CheckResponse) =>
      r.ok_response?.response_headers_to_add?.find((h) => h.header?.key === 'tollgate-token-refresh');
    let response!: CheckResponse;
    await waitFor('replica B to signal a refresh', async () => refreshHeader((response = await checkOn(b, earlier))) !== undefined, {
      timeoutMs: 1000,
      intervalMs: 0,
    });
    expect(response.status?.code).toBe(0);
    expect(refreshHeader(response)).toMatchObject({ header: { value: 'required' }, append: { value: false } });

    for (const replica of [a, b]) replica.clock.advance(5000);
    const fresh = await checkOn(b, await mint(ISSUER, 'api', { key, claims: { sub: 'ta-42' }, now: nowSeconds(b.clock) }));
    expect(fresh.status?.code).toBe(0);
    expect(refreshHeader(fresh)).toBeUndefined();
  });

  it('refuses the admin API without the right credential', async () => {
    const url = `http://127.0.0.1:${a.app.httpPort}/admin/v1/revocations`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Bearer wrong-secret-wrong-secret' } })).status).toBe(401);
    expect(a.logText()).not.toContain(ADMIN_SECRET);
  });
});
