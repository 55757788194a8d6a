import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromStruct } from '../../src/envoy/types.js';
import { checkRequest, deniedBody, deniedHeader, injectedHeaders } from '../helpers/envoy-client.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { es256Provider, nowSeconds, type RunningTollgate, startTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'api';

describe('Check over a real gRPC connection', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let key: TestKey;
  const token = (claims: Record<string, unknown> = {}) => mint(ISSUER, AUDIENCE, { key, claims, now: nowSeconds(tg.clock) });
  const bearer = async (claims: Record<string, unknown> = {}) => ({ authorization: `Bearer ${await token(claims)}` });

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    tg = await startTollgate({
      providers: [
        {
          ...es256Provider(ISSUER, AUDIENCE, `${jwksServer.url}/jwks.json`),
          fromParams: ['access_token'],
          fromCookies: ['session'],
          maxTokenAgeSeconds: 3600,
          claimToHeaders: [
            { header: 'x-user-id', claim: 'sub' },
            { header: 'x-user-roles', claim: 'roles' },
            { header: 'x-user-org', claim: 'org' },
            // Outside the strip prefixes (x-user-, x-auth-): stripped because tollgate injects it.
            { header: 'x-tenant', claim: 'tenant' },
          ],
        },
      ],
      rules: [
        { id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } },
        { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
      ],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
  });

  it('allows a valid token, injects identity headers with append false, and strips forged ones', async () => {
    const response = await tg.client.check(
      checkRequest({
        headers: {
          ...(await bearer({ roles: ['teacher', 'ta'], org: { id: 7 } })),
          'x-user-id': 'forged',
          'x-auth-level': 'admin',
          'x-other': 'kept',
        },
      }),
    );
    expect(response.status?.code).toBe(0);
    expect(response.http_response).toBe('ok_response');
    expect(injectedHeaders(response)).toEqual({ 'x-user-id': 'user-123', 'x-user-roles': 'teacher,ta', 'x-user-org': '{"id":7}' });
    for (const h of response.ok_response?.headers ?? []) expect(h.append).toEqual({ value: false });
    // x-user-id is overwritten, so it must not also be listed for removal (Envoy removes after setting).
    expect(response.ok_response?.headers_to_remove?.sort()).toEqual(['authorization', 'x-auth-level']);
    const metadata = fromStruct(response.dynamic_metadata);
    expect(metadata).toMatchObject({
      provider: 'idp',
      iss: ISSUER,
      sub: 'user-123',
      rule: 'api',
      claims: { sub: 'user-123', roles: ['teacher', 'ta'] },
    });
  });

  it('reads Envoy raw header_map values and strips identity headers whatever their case', async () => {
    const t = await token();
    const response = await tg.client.check(
      checkRequest({
        rawHeaders: [
          ['Authorization', `Bearer ${t}`],
          ['X-User-Roles', 'admin'],
          ['X-AUTH-Whatever', 'x'],
        ],
      }),
    );
    expect(response.status?.code).toBe(0);
    expect(injectedHeaders(response)['x-user-id']).toBe('user-123');
    expect(response.ok_response?.headers_to_remove?.sort()).toEqual(['authorization', 'x-auth-whatever', 'x-user-roles']);
  });

  it('denies a request without a token: 401, code 16, a challenge without an error attribute', async () => {
    const response = await tg.client.check(checkRequest({ headers: { 'x-user-id': 'forged' } }));
    expect(response.status?.code).toBe(16);
    expect(response.denied_response?.status?.code).toBe('Unauthorized');
    expect(deniedHeader(response, 'www-authenticate')).toBe('Bearer realm="tollgate"');
    expect(deniedBody(response)).toEqual({ error: 'unauthenticated', reason: 'missing_token', rule: 'api' });
  });

  it('denies an expired token with an RFC 6750 challenge and a body that echoes nothing of the token', async () => {
    const expired = await mint(ISSUER, AUDIENCE, { key, now: nowSeconds(tg.clock) - 3600, ttlSeconds: 60 });
    const response = await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${expired}` } }));
    expect(response.status?.code).toBe(16);
    expect(response.denied_response?.status?.code).toBe('Unauthorized');
    expect(deniedHeader(response, 'www-authenticate')).toBe(
      'Bearer realm="tollgate", error="invalid_token", error_description="token expired"',
    );
    expect(deniedBody(response)).toEqual({ error: 'unauthenticated', reason: 'expired' });
    expect(response.denied_response?.body).not.toContain(expired.split('.')[1]);
    expect(tg.logText()).not.toContain(expired.split('.')[2]);
  });

  it('lets anonymous routes through without a token, and still validates a token if one is sent', async () => {
    const anonymous = await tg.client.check(checkRequest({ path: '/public/docs', headers: { 'x-user-id': 'forged' } }));
    expect(anonymous.status?.code).toBe(0);
    expect(anonymous.ok_response?.headers).toEqual([]);
    expect(anonymous.ok_response?.headers_to_remove).toEqual(['x-user-id']);
    const bad = await tg.client.check(checkRequest({ path: '/public/docs', headers: { authorization: 'Bearer not.a.jwt' } }));
    expect(bad.status?.code).toBe(16);
    expect(deniedBody(bad).reason).toBe('malformed_token');
  });

  it('denies duplicate authorization headers and a token sent both in a header and a query parameter', async () => {
    const t = await token();
    const duplicated = await tg.client.check(
      checkRequest({
        rawHeaders: [
          ['authorization', `Bearer ${t}`],
          ['authorization', `Bearer ${t}`],
        ],
      }),
    );
    expect(duplicated.status?.code).toBe(16);
    expect(deniedBody(duplicated).reason).toBe('ambiguous_token');
    expect(deniedHeader(duplicated, 'www-authenticate')).toContain('error="invalid_request"');
    // Envoy's `headers` map joins a repeated header's values with ",".
    const joined = await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${t},Bearer ${t}` } }));
    expect(deniedBody(joined).reason).toBe('ambiguous_token');
    const both = await tg.client.check(checkRequest({ path: `/api?access_token=${t}`, headers: { authorization: `Bearer ${t}` } }));
    expect(deniedBody(both).reason).toBe('ambiguous_token');
  });

  it('accepts a token from a query parameter and removes it from the upstream request', async () => {
    const response = await tg.client.check(checkRequest({ path: `/api?access_token=${await token()}&x=1` }));
    expect(response.status?.code).toBe(0);
    expect(response.ok_response?.query_parameters_to_remove).toEqual(['access_token']);
  });

  it('accepts a token from a cookie', async () => {
    const response = await tg.client.check(checkRequest({ headers: { cookie: `theme=dark; session=${await token()}; lang=en` } }));
    expect(response.status?.code).toBe(0);
    expect(injectedHeaders(response)['x-user-id']).toBe('user-123');
  });

  it('denies a token older than maxTokenAgeSeconds', async () => {
    const old = await mint(ISSUER, AUDIENCE, { key, now: nowSeconds(tg.clock) - 7200, ttlSeconds: 86400 });
    expect(deniedBody(await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${old}` } }))).reason).toBe('token_too_old');
  });

  it('refuses to inject a claim that is not a safe header value, and says which', async () => {
    const response = await tg.client.check(checkRequest({ headers: await bearer({ org: 'acme\r\nx-admin: true', roles: ['ok'] }) }));
    expect(response.status?.code).toBe(0);
    const injected = injectedHeaders(response);
    expect(injected).not.toHaveProperty('x-user-org');
    expect(injected['x-user-roles']).toBe('ok');
    expect(tg.logs.find((l) => l.msg === 'claim value is not a safe header value; header not injected')).toMatchObject({
      header: 'x-user-org',
      claim: 'org',
    });
    expect(tg.logText()).not.toContain('x-admin: true');
  });

  it('strips a forged claimToHeaders header outside the strip prefixes, on anonymous and authenticated requests', async () => {
    const anonymous = await tg.client.check(checkRequest({ path: '/public/docs', headers: { 'x-tenant': 'forged' } }));
    expect(anonymous.status?.code).toBe(0);
    expect(anonymous.ok_response?.headers_to_remove).toEqual(['x-tenant']);
    // The token has no tenant claim, so nothing overwrites the forged value: it must be removed.
    const noClaim = await tg.client.check(checkRequest({ headers: { ...(await bearer()), 'x-tenant': 'forged' } }));
    expect(noClaim.status?.code).toBe(0);
    expect(injectedHeaders(noClaim)).not.toHaveProperty('x-tenant');
    expect(noClaim.ok_response?.headers_to_remove?.sort()).toEqual(['authorization', 'x-tenant']);
    // With the claim, the header is overwritten rather than removed.
    const withClaim = await tg.client.check(checkRequest({ headers: { ...(await bearer({ tenant: 'acme' })), 'x-tenant': 'forged' } }));
    expect(injectedHeaders(withClaim)['x-tenant']).toBe('acme');
    expect(withClaim.ok_response?.headers_to_remove).toEqual(['authorization']);
  });

  it('injects a claim value of 4096 characters, and not one of 4097 (allowed, with a warning)', async () => {
    const longest = await tg.client.check(checkRequest({ headers: await bearer({ tenant: 'a'.repeat(4096) }) }));
    expect(longest.status?.code).toBe(0);
    expect(injectedHeaders(longest)['x-tenant']).toBe('a'.repeat(4096));
    const warnings = () =>
      tg.logs.filter((l) => l.msg === 'claim value is not a safe header value; header not injected' && l.header === 'x-tenant');
    expect(warnings()).toEqual([]);

    const tooLong = await tg.client.check(checkRequest({ headers: await bearer({ tenant: 'a'.repeat(4097) }) }));
    expect(tooLong.status?.code).toBe(0);
    expect(injectedHeaders(tooLong)).not.toHaveProperty('x-tenant');
    expect(injectedHeaders(tooLong)['x-user-id']).toBe('user-123');
    expect(warnings()).toEqual([expect.objectContaining({ level: 40, header: 'x-tenant', claim: 'tenant' })]);
    expect(tg.logText()).not.toContain('a'.repeat(4097));
  });

  it("answers an empty or odd CheckRequest with the policy's denial, never an RPC error or an internal error", async () => {
    // No path at all: the policy refuses an empty path before any rule (403 invalid_path).
    for (const request of [{}, { attributes: {} }]) {
      const response = await tg.client.check(request);
      expect(response.status?.code).toBe(7);
      expect(response.http_response).toBe('denied_response');
      expect(deniedBody(response)).toEqual({ error: 'forbidden', reason: 'invalid_path' });
    }
    // A path but no headers: the catch-all rule wants a token.
    const noHeaders = await tg.client.check({ attributes: { request: { http: { path: '/api', headers: {} } } } });
    expect(noHeaders.status?.code).toBe(16);
    expect(deniedBody(noHeaders)).toEqual({ error: 'unauthenticated', reason: 'missing_token', rule: 'api' });
  });

  it('reports decisions in tollgate_check_total and serves health and readiness over HTTP', async () => {
    const base = `http://127.0.0.1:${tg.app.httpPort}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_check_total\{decision="deny",reason="missing_token",provider="",rule="api",transport="grpc"\} \d+/);
    expect(metrics).toMatch(/tollgate_check_duration_seconds_bucket/);
    expect(metrics).toMatch(/process_cpu_seconds_total/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, checks: { 'provider:idp': { ready: true } } });
  });

  it('logs one line per denial with reason and request id, and never the token', async () => {
    const t = await token({ exp: nowSeconds(tg.clock) - 120 });
    await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${t}`, 'x-request-id': 'req-expired' } }));
    const line = tg.logs.find((l) => l.requestId === '12345' && l.reason === 'expired');
    expect(line).toMatchObject({ msg: 'check denied', decision: 'deny', provider: 'idp' });
    expect(tg.logText()).not.toContain(t);
    // At debug level (the test server's), allowed requests are logged too, with the subject and rule.
    const allowed = await token({ sub: 'debug-user' });
    await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${allowed}` } }));
    expect(tg.logs.find((l) => l.msg === 'check allowed' && l.sub === 'debug-user')).toMatchObject({
      decision: 'allow',
      rule: 'api',
      provider: 'idp',
    });
    expect(tg.logText()).not.toContain(allowed);
  });

  it('logs the x-request-id header as the request id when Envoy sends no request id attribute', async () => {
    const request = checkRequest({ path: '/nowhere-public', headers: { 'x-request-id': 'req-from-header' } });
    delete request.attributes!.request!.http!.id;
    await tg.client.check(request);
    expect(tg.logs.find((l) => l.requestId === 'req-from-header')).toMatchObject({
      msg: 'check denied',
      reason: 'missing_token',
      path: '/nowhere-public',
    });
  });
});
