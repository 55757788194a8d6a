import { describe, expect, it } from 'vitest';
import { providerSchema } from '../../src/config/providers.js';
import { extractToken, tokenLocations } from '../../src/pipeline/extract.js';
import type { RequestView } from '../../src/pipeline/request.js';

const provider = (extra: Record<string, unknown>, name = 'idp') =>
  providerSchema.parse({
    name,
    issuer: `https://${name}.example.com`,
    audiences: ['api'],
    algorithms: ['ES256'],
    jwks: { uri: `https://${name}.example.com/jwks` },
    ...extra,
  });

const LOCATIONS = tokenLocations([
  provider({ fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }, { name: 'X-Api-Token' }], fromCookies: ['session'] }),
  provider({ fromParams: ['access_token'] }, 'other'),
]);

function view(headers: Record<string, string | string[]>, path = '/'): RequestView {
  return { method: 'GET', host: 'api', path, headers: new Map(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v : [v]])) };
}

describe('extractToken', () => {
  it('collects every location once across providers, header names lower-cased', () => {
    // The second provider's default `authorization: Bearer` is the first's: listed once.
    expect(LOCATIONS.map((l) => l.key)).toEqual([
      'header:authorization bearer',
      'header:x-api-token',
      'cookie:session',
      'param:access_token',
    ]);
  });

  it('finds nothing in a request without a token', () => {
    expect(extractToken(view({ accept: '*/*' }), LOCATIONS)).toEqual({ kind: 'none' });
  });

  it('takes the token after the prefix and says where it came from', () => {
    const found = extractToken(view({ authorization: 'Bearer abc.def.ghi' }), LOCATIONS);
    expect(found).toMatchObject({ kind: 'token', token: 'abc.def.ghi', location: { kind: 'header', name: 'authorization' } });
  });

  it('reads a cookie and a query parameter', () => {
    expect(extractToken(view({ cookie: 'a=1; session=tok.en.x' }), LOCATIONS)).toMatchObject({
      kind: 'token',
      token: 'tok.en.x',
      location: { kind: 'cookie' },
    });
    expect(extractToken(view({}, '/x?access_token=q.t.v&y=1'), LOCATIONS)).toMatchObject({
      kind: 'token',
      token: 'q.t.v',
      location: { kind: 'param' },
    });
  });

  it('refuses two tokens, and a repeated token header, as ambiguous', () => {
    expect(extractToken(view({ authorization: 'Bearer a.b.c', 'x-api-token': 'd.e.f' }), LOCATIONS).kind).toBe('ambiguous');
    expect(extractToken(view({ authorization: ['Bearer a.b.c', 'Bearer a.b.c'] }), LOCATIONS).kind).toBe('ambiguous');
  });
});
