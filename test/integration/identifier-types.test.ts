/**
 * Issue 35, reproduction 1: a revocation the admin API accepts must take effect on the wire. A token
 * names its subject, token and session as `sub`, `jti` and `sid`; the admin API only takes strings, so
 * a token carrying one of them as a number (`"sub": 67890`) is refused at verification — before this,
 * it was allowed, `x-user-id: 67890` injected, and the 201 for `{"type":"sub","value":"67890"}` never
 * denied it. The string form of the same value is revoked as the admin API promised.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, injectedHeaders } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { es256Provider, nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const ADMIN_SECRET = 'identifier-types-admin-secret-0123456789';

let key: TestKey;
let jwksServer: TestHttpServer;
let tg: RunningTollgate;

beforeAll(async () => {
  key = await testKey('ES256');
  jwksServer = await startJwksServer(jwks(key));
  tg = await startTollgate(
    {
      providers: [{ ...es256Provider(ISSUER, 'api', `${jwksServer.url}/jwks`), claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }] }],
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
      revocation: { store: 'file', path: 'revocations.log' },
      admin: { tokenFile: 'admin-token' },
    },
    { 'admin-token': ADMIN_SECRET },
  );
});
afterAll(async () => {
  await tg?.close();
  await jwksServer?.close();
});

const revoke = (body: unknown) =>
  fetch(`http://127.0.0.1:${tg.app.httpPort}/admin/v1/revocations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const check = async (claims: Record<string, unknown>) => {
  const token = await mint(ISSUER, 'api', { key, claims, now: nowSeconds(tg.clock) - 5 });
  return tg.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));
};

describe('sub, jti and sid are strings a revocation can name', () => {
  it('a numeric sub is refused (invalid_claims); the string form of the same value is revoked by the 201 the admin API gives', async () => {
    const numeric = await check({ sub: 67890 });
    expect(numeric.status?.code).toBe(16);
    expect(deniedBody(numeric)).toMatchObject({ reason: 'invalid_claims' });

    const string = await check({ sub: '67890' });
    expect(string.status?.code ?? 0).toBe(0);
    expect(injectedHeaders(string)['x-user-id']).toBe('67890');

    expect((await revoke({ type: 'sub', value: '67890', reason: 'issue 35' })).status).toBe(201);
    expect(deniedBody(await check({ sub: '67890' }))).toMatchObject({ reason: 'revoked' });
    // Still refused, never allowed past the revocation.
    expect(deniedBody(await check({ sub: 67890 }))).toMatchObject({ reason: 'invalid_claims' });
  });

  it.each([
    ['jti', 4242, '4242'],
    ['sid', 777, '777'],
  ])('a numeric %s is refused; a revoked string %s is denied', async (claim, numeric, text) => {
    expect(deniedBody(await check({ sub: 'someone', [claim]: numeric }))).toMatchObject({ reason: 'invalid_claims' });
    expect((await check({ sub: 'someone', [claim]: text })).status?.code ?? 0).toBe(0);
    expect((await revoke({ type: claim, value: text, reason: 'issue 35' })).status).toBe(201);
    expect(deniedBody(await check({ sub: 'someone', [claim]: text }))).toMatchObject({ reason: 'revoked' });
  });

  it('an empty or over-long identifier, which no revocation can name, is refused', async () => {
    expect(deniedBody(await check({ sub: '' }))).toMatchObject({ reason: 'invalid_claims' });
    expect(deniedBody(await check({ sub: 'u', jti: 'x'.repeat(1025) }))).toMatchObject({ reason: 'invalid_claims' });
    expect(deniedBody(await check({ sub: 'u', sid: { id: 1 } }))).toMatchObject({ reason: 'invalid_claims' });
  });
});
