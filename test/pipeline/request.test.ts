import { describe, expect, it } from 'vitest';
import { decide } from '../../src/pipeline/decide.js';
import { requestViewFrom } from '../../src/pipeline/request.js';
import { IdentityHeaders, toCheckResponse } from '../../src/pipeline/respond.js';
import type { CheckRequest } from '../../src/envoy/types.js';
import { testConfig, testRuntime, token } from './helpers.js';

/** A CheckRequest carrying both header encodings, as Envoy never does but any client can. */
function both(headers: Record<string, string>, raw: Array<[string, string]>): CheckRequest {
  return {
    attributes: {
      request: {
        http: {
          method: 'GET',
          path: '/courses/1',
          host: 'api.example.com',
          headers,
          header_map: { headers: raw.map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })) },
        },
      },
    },
  };
}

describe('requestViewFrom', () => {
  it('reads headers from both `headers` and `header_map` when a request carries both', () => {
    const view = requestViewFrom(both({ 'x-user-roles': 'admin', accept: '*/*' }, [['X-User-Id', 'mallory']]));
    expect(view.headers.get('x-user-roles')).toEqual(['admin']);
    expect(view.headers.get('x-user-id')).toEqual(['mallory']);
    expect(view.headers.get('accept')).toEqual(['*/*']);
  });

  it('counts a header described the same way in both encodings once, and differing values as two', () => {
    const view = requestViewFrom(
      both({ a: '1,2', b: 'x' }, [
        ['a', '1'],
        ['a', '2'],
        ['b', 'y'],
      ]),
    );
    expect(view.headers.get('a')).toEqual(['1', '2']);
    expect(view.headers.get('b')).toEqual(['y', 'x']);
  });

  it('removes a forged identity header sent only in `headers` when `header_map` is also present', async () => {
    const { runtime } = testRuntime();
    const view = requestViewFrom(both({ 'x-user-roles': 'admin', 'x-user-id': 'mallory' }, [['authorization', `Bearer ${await token()}`]]));
    const { outcome } = await decide(runtime, view);
    expect(outcome.kind).toBe('allow');
    const response = toCheckResponse(outcome, view, {
      identityHeaders: new IdentityHeaders(testConfig()),
      realm: 'unit',
      onUnsafeClaim: () => {},
    });
    expect(response.ok_response?.headers_to_remove?.sort()).toEqual(['authorization', 'x-user-roles']);
    expect(response.ok_response?.headers?.map((h) => h.header)).toEqual([{ key: 'x-user-id', value: 'alice' }]);
  });
});
