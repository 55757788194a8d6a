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

  it('falls back to the pseudo-headers, then host, for method, host and path; empty when nothing says', () => {
    const http = (headers: Record<string, string>) => requestViewFrom({ attributes: { request: { http: { headers } } } });
    const pseudo = http({ ':method': 'post', ':authority': 'a.example.com', host: 'h.example.com', ':path': '/p?q=1' });
    expect(pseudo).toMatchObject({ method: 'POST', host: 'a.example.com', path: '/p?q=1' });
    expect(http({ host: 'h.example.com' })).toMatchObject({ method: '', host: 'h.example.com', path: '' });
    expect(http({})).toMatchObject({ method: '', host: '', path: '' });
    const fields = requestViewFrom({
      attributes: {
        request: {
          http: { method: 'get', host: 'f.example.com', path: '/f', headers: { ':method': 'PUT', ':authority': 'x', ':path': '/x' } },
        },
      },
    });
    expect(fields).toMatchObject({ method: 'GET', host: 'f.example.com', path: '/f' });
  });

  it('reads a header_map entry from raw_value, else from value, else as empty; an entry without a key is skipped', () => {
    const view = requestViewFrom({
      attributes: {
        request: {
          http: {
            header_map: {
              headers: [
                { key: 'raw', raw_value: Buffer.from('r'), value: 'ignored' },
                { key: 'plain', value: 'v' },
                { key: 'empty-raw', raw_value: new Uint8Array(0), value: 'w' },
                { key: 'bare' },
                { key: '', value: 'no name' },
                { value: 'no key' },
              ],
            },
          },
        },
      },
    });
    expect([...view.headers]).toEqual([
      ['raw', ['r']],
      ['plain', ['v']],
      ['empty-raw', ['w']],
      ['bare', ['']],
    ]);
  });

  it('keeps both values of a `headers` map naming one header in two cases, so two tokens stay ambiguous', async () => {
    const { runtime } = testRuntime();
    const bearer = `Bearer ${await token()}`;
    const view = requestViewFrom({
      attributes: { request: { http: { method: 'GET', path: '/courses/1', headers: { Authorization: bearer, authorization: bearer } } } },
    });
    expect(view.headers.get('authorization')).toEqual([bearer, bearer]);
    expect((await decide(runtime, view)).outcome).toEqual({ kind: 'unauthenticated', reason: 'ambiguous_token' });
  });
});
