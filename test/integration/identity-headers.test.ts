/**
 * Identity headers beyond the defaults: claims of every JSON type as header text, a strip list of exact
 * names only (no prefixes), a forwarded token, and the metadata of a request no rule decided.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromStruct } from '../../src/envoy/types.js';
import { checkRequest, injectedHeaders } from '../helpers/envoy-client.js';
import { mint } from '../helpers/keys.js';
import { es256Provider, nowSeconds, startTollgateWithKey } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';

describe('identity headers', () => {
  let tg: Awaited<ReturnType<typeof startTollgateWithKey>>;

  beforeAll(async () => {
    tg = await startTollgateWithKey((uri) => ({
      providers: [
        {
          ...es256Provider(ISSUER, 'api', uri),
          claimToHeaders: [
            { header: 'x-user-id', claim: 'sub' },
            { header: 'x-extra', claim: 'extra' },
          ],
        },
      ],
      identityHeaders: { strip: ['x-exact', '-dash'], forwardToken: true },
      defaultDecision: 'allow',
    }));
  });
  afterAll(async () => {
    await tg?.close();
  });

  const withExtra = async (extra: unknown, headers: Record<string, string> = {}) =>
    tg.client.check(
      checkRequest({
        headers: {
          authorization: `Bearer ${await mint(ISSUER, 'api', { key: tg.key, now: nowSeconds(tg.clock), claims: { extra } })}`,
          ...headers,
        },
      }),
    );

  it.each([
    ['a number', 42, '42'],
    ['a boolean', true, 'true'],
    ['an array of strings and numbers', ['a', 1], 'a,1'],
    ['an object', { k: 'v' }, '{"k":"v"}'],
  ])('injects %s as header text', async (_name, extra, text) => {
    const response = await withExtra(extra);
    expect(response.status?.code).toBe(0);
    expect(injectedHeaders(response)['x-extra']).toBe(text);
  });

  // Values the shipped reader (tollgate/identity) would read as something else have no encoding.
  it.each([
    ['a null claim', null],
    ['an array holding an object', ['a', { b: 1 }]],
    ['a member holding the separator', ['a,b']],
  ])('does not inject %s, and says so', async (_name, extra) => {
    const logged = () =>
      tg.logs.filter((l) => l.msg === 'claim value is not a safe header value; header not injected' && l.header === 'x-extra').length;
    const before = logged();
    const response = await withExtra(extra);
    expect(response.status?.code).toBe(0);
    expect(injectedHeaders(response)).not.toHaveProperty('x-extra');
    expect(logged()).toBe(before + 1);
  });

  it('strips exactly the listed names when no prefix is configured, and forwards the token', async () => {
    const response = await withExtra('x', { 'x-exact': 'forged', '-dash': 'forged', 'x-user-role': 'kept', 'x-other': 'kept' });
    expect(response.status?.code).toBe(0);
    expect(response.ok_response?.headers_to_remove?.sort()).toEqual(['-dash', 'x-exact']);
  });

  it('reports a null rule in the metadata when no rule decided', async () => {
    const response = await withExtra('x');
    expect(fromStruct(response.dynamic_metadata)).toMatchObject({ rule: null, provider: 'idp' });
    // An explicit null_value, not a Value with no kind (which fromStruct would also read as null).
    expect(response.dynamic_metadata?.fields?.rule).toMatchObject({ nullValue: 'NULL_VALUE' });
  });
});
