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
/** Two providers with a cookie and a parameter each: every name is its own location. */
const COOKIES_AND_PARAMS = tokenLocations([
  provider({ fromHeaders: [], fromCookies: ['session'], fromParams: ['access_token'] }),
  provider({ fromHeaders: [], fromCookies: ['sid'], fromParams: ['token'] }, 'other'),
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

  it('lists each cookie and parameter name of every provider as its own location', () => {
    expect(COOKIES_AND_PARAMS.map((l) => l.key)).toEqual(['cookie:session', 'param:access_token', 'cookie:sid', 'param:token']);
    expect(extractToken(view({ cookie: 'sid=s.i.d' }), COOKIES_AND_PARAMS)).toMatchObject({
      token: 's.i.d',
      location: { key: 'cookie:sid' },
    });
    expect(extractToken(view({}, '/?token=t.o.k'), COOKIES_AND_PARAMS)).toMatchObject({ token: 't.o.k', location: { key: 'param:token' } });
  });

  it('reads the scheme case-insensitively, and leaves a value with another scheme alone', () => {
    expect(extractToken(view({ authorization: 'bEARER abc.def.ghi' }), LOCATIONS)).toMatchObject({ kind: 'token', token: 'abc.def.ghi' });
    expect(extractToken(view({ authorization: 'Basic YWxhZGRpbjpvcGVu' }), LOCATIONS)).toEqual({ kind: 'none' });
  });

  it('takes a header joined from repeated ones (a "," inside) as ambiguous', () => {
    expect(extractToken(view({ authorization: 'Bearer a.b.c,Bearer d.e.f' }), LOCATIONS).kind).toBe('ambiguous');
  });

  it('reads a cookie only under its exact name, its value trimmed', () => {
    expect(extractToken(view({ cookie: 'sessions; xsession=a.b.c; session' }), LOCATIONS)).toEqual({ kind: 'none' });
    expect(extractToken(view({ cookie: ' session = tok.en.x ;a=1' }), LOCATIONS)).toMatchObject({ kind: 'token', token: 'tok.en.x' });
  });

  it('reads a parameter from the query only: not from the path before "?", nor from the fragment', () => {
    expect(extractToken(view({}, '/x&access_token=p.a.th'), LOCATIONS)).toEqual({ kind: 'none' });
    expect(extractToken(view({}, '/x?y=1#access_token=f.r.ag'), LOCATIONS)).toEqual({ kind: 'none' });
    expect(extractToken(view({}, '/x?access_token=q.t.v#frag'), LOCATIONS)).toMatchObject({ kind: 'token', token: 'q.t.v' });
    expect(extractToken(view({}, '?access_token=q.t.v'), LOCATIONS)).toMatchObject({ kind: 'token', token: 'q.t.v' });
  });
});
