/**
 * A provider's tokens count only where that provider says they travel. Provider A reads the
 * Authorization header; provider B reads only the `session` cookie. A's token in B's cookie is refused
 * (`token_location`), whether it is verified afresh or already sits in the verified-token cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, injectedHeaders } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER_A = 'https://a.example.com';
const ISSUER_B = 'https://b.example.com';

describe('token location binding', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let key: TestKey;

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    const provider = { audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks.json` } };
    tg = await startTollgate({
      providers: [
        { name: 'a', issuer: ISSUER_A, ...provider },
        { name: 'b', issuer: ISSUER_B, ...provider, fromHeaders: [], fromCookies: ['session'] },
      ],
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
  });

  const token = (issuer: string, sub: string) => mint(issuer, 'api', { key, now: nowSeconds(tg.clock), claims: { sub } });
  const inCookie = (t: string) => tg.client.check(checkRequest({ headers: { cookie: `session=${t}` } }));
  const inHeader = (t: string) => tg.client.check(checkRequest({ headers: { authorization: `Bearer ${t}` } }));
  const expectWrongPlace = (response: Awaited<ReturnType<typeof inCookie>>) => {
    expect(response.status?.code).toBe(16);
    expect(deniedBody(response)).toEqual({ error: 'unauthenticated', reason: 'token_location' });
  };

  it("allows each provider's token where it reads tokens", async () => {
    const b = await inCookie(await token(ISSUER_B, 'bob'));
    expect(b.status?.code).toBe(0);
    expect(injectedHeaders(b)['x-user-id']).toBe('bob');
    const a = await inHeader(await token(ISSUER_A, 'alice'));
    expect(a.status?.code).toBe(0);
    expect(injectedHeaders(a)['x-user-id']).toBe('alice');
  });

  it("refuses A's token in B's cookie, and B's token in A's header, when first seen", async () => {
    expectWrongPlace(await inCookie(await token(ISSUER_A, 'mallory')));
    expectWrongPlace(await inHeader(await token(ISSUER_B, 'mallory')));
  });

  it("refuses A's token in B's cookie after it was allowed (and cached) in A's header", async () => {
    const t = await token(ISSUER_A, 'carol');
    expect((await inHeader(t)).status?.code).toBe(0);
    expect((await inHeader(t)).status?.code).toBe(0);
    expectWrongPlace(await inCookie(t));
  });
});
