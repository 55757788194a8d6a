/**
 * A provider's tokens count only where that provider says they travel. Provider A reads the
 * Authorization header; provider B reads only the `session` cookie. A's token in B's cookie is refused
 * (`token_location`), whether it is verified afresh or already sits in the verified-token cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, injectedHeaders } from '../helpers/envoy-client.js';
import { mint } from '../helpers/keys.js';
import { nowSeconds, startTollgateWithKey } from '../helpers/tollgate.js';

const ISSUER_A = 'https://a.example.com';
const ISSUER_B = 'https://b.example.com';

describe('token location binding', () => {
  let tg: Awaited<ReturnType<typeof startTollgateWithKey>>;

  beforeAll(async () => {
    tg = await startTollgateWithKey((uri) => {
      const provider = { audiences: ['api'], algorithms: ['ES256'], jwks: { uri } };
      return {
        providers: [
          { name: 'a', issuer: ISSUER_A, ...provider },
          { name: 'b', issuer: ISSUER_B, ...provider, fromHeaders: [], fromCookies: ['session'] },
        ],
        rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
      };
    });
  });
  afterAll(async () => {
    await tg?.close();
  });

  const token = (issuer: string, sub: string) => mint(issuer, 'api', { key: tg.key, now: nowSeconds(tg.clock), claims: { sub } });
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
