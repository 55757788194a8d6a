/**
 * Fuzzing the Check path over a real gRPC connection: arbitrary CheckRequests (thousands of header
 * entries, huge and odd values, `headers` and `header_map` disagreeing, odd paths and methods, valid
 * and forged credentials) and arbitrary bytes as the message. Whatever arrives: the RPC succeeds, the
 * answer is 0, 7 or 16, and an allowed request never carries a forged identity header upstream.
 */
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckRequest, CheckResponse } from '../../src/envoy/types.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const ISSUER = 'https://idp.example.com';
/** The names tollgate must treat as identity (the default `x-user-`/`x-auth-` prefixes, and claimToHeaders). */
const isIdentity = (name: string) => name.startsWith('x-user-') || name.startsWith('x-auth-') || name === 'x-tenant';

describe('fuzzing Check over gRPC', () => {
  let tg: RunningTollgate;
  let goodToken: string;

  beforeAll(async () => {
    tg = await startTollgate(
      {
        providers: [
          {
            name: 'idp',
            issuer: ISSUER,
            audiences: ['api'],
            algorithms: ['HS256'],
            hmacSecret: { file: 'hmac-secret' },
            fromCookies: ['session'],
            fromParams: ['access_token'],
            claimToHeaders: [
              { header: 'x-user-id', claim: 'sub' },
              { header: 'x-tenant', claim: 'tenant' },
            ],
          },
        ],
        rules: [
          { id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } },
          { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
        ],
      },
      { 'hmac-secret': `${SECRET}\n` },
    );
    const now = nowSeconds(tg.clock);
    goodToken = await new SignJWT({ sub: 'user-1', tenant: 't1' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience('api')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(SECRET));
  });
  afterAll(async () => tg?.close());

  /** A header name: mostly ones that matter (identity, token carriers, pseudo-headers), in any case. */
  const headerName = fc.oneof(
    fc.constantFrom(
      'x-user-id',
      'x-user-roles',
      'x-auth-level',
      'x-tenant',
      'authorization',
      'cookie',
      ':path',
      ':method',
      ':authority',
      'host',
      'x-request-id',
      'accept',
    ),
    fc.constantFrom('X-User-Id', 'X-USER-ROLES', 'X-Auth-Level', 'X-Tenant', 'Authorization'),
    fc.string({ minLength: 1, maxLength: 20 }),
  );
  const headerValue = fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 3, arbitrary: fc.constant('VALID').map(() => `Bearer ${goodToken}`) },
    { weight: 1, arbitrary: fc.constant('VALID').map(() => `session=${goodToken}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom('Bearer ', 'Bearer a.b.c', 'bearer x,y', '\u0000', ',,,', 'x'.repeat(20_000)) },
  );
  const headerEntries = fc.oneof(
    { weight: 8, arbitrary: fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }) },
    // Thousands of entries: each is cheap, and their count is what a parser or a loop must survive.
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1000, max: 4000 })
        .map((n) => Array.from({ length: n }, (_, i): [string, string] => [`x-h-${i}`, `v${i}`])),
    },
  );
  const path = fc.oneof(
    fc.constantFrom(
      '/public/x',
      '/api/things',
      '/',
      '',
      '/public/../api',
      '/%2e%2e/api',
      '//public',
      '/public/x?access_token=VALID',
      '/a?access_token=a&access_token=b',
      '*',
    ),
    fc.string({ maxLength: 60 }),
    fc.webPath(),
  );
  const method = fc.oneof(fc.constantFrom('GET', 'POST', 'get', 'CONNECT', '', 'X'.repeat(300)), fc.string({ maxLength: 10 }));

  const checkRequestArb = fc
    .record({
      method,
      path,
      host: fc.oneof(fc.constant('api.example.com'), fc.string({ maxLength: 30 })),
      headers: headerEntries,
      raw: fc.option(headerEntries, { nil: undefined }),
    })
    .map(({ method, path, host, headers, raw }): CheckRequest => ({
      attributes: {
        request: {
          http: {
            method,
            path: path.replace('VALID', goodToken),
            host,
            headers: Object.fromEntries(headers),
            header_map: raw && { headers: raw.map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })) },
          },
        },
      },
    }));

  /** Every identity header the request carried (either encoding) is overwritten or removed by an allow. */
  function assertNoForgedIdentity(request: CheckRequest, response: CheckResponse): void {
    const http = request.attributes!.request!.http!;
    const sent = [...Object.keys(http.headers ?? {}), ...(http.header_map?.headers ?? []).map((h) => h.key ?? '')].map((n) =>
      n.toLowerCase(),
    );
    const removed = new Set(response.ok_response?.headers_to_remove ?? []);
    const overwritten = new Set((response.ok_response?.headers ?? []).map((h) => h.header?.key ?? ''));
    for (const name of sent.filter(isIdentity)) expect(removed.has(name) || overwritten.has(name), `forged ${name} survived`).toBe(true);
    for (const h of response.ok_response?.headers ?? []) expect(h.append).toEqual({ value: false });
  }

  it('answers arbitrary CheckRequests with 0, 7 or 16, and never lets a forged identity header through', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(checkRequestArb, async (request) => {
        const response = await tg.client.check(request);
        const code = response.status?.code ?? -1;
        expect([0, 7, 16]).toContain(code);
        seen.set(code, (seen.get(code) ?? 0) + 1);
        if (code === 0) assertNoForgedIdentity(request, response);
        else expect(['Unauthorized', 'Forbidden', 'InternalServerError']).toContain(response.denied_response?.status?.code);
      }),
      { numRuns: 300 },
    );
    // The generator must reach allows and both kinds of denial, or the property proves little.
    for (const code of [0, 7, 16]) expect(seen.get(code) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(5);
  });

  it('answers arbitrary bytes as the message with 0, 7 or 16', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const response = await tg.client.checkBytes(Buffer.from(bytes));
        expect([0, 7, 16]).toContain(response.status?.code);
      }),
      { numRuns: 300 },
    );
  });

  it('logged no internal error while fuzzing', () => {
    expect(tg.logs.filter((line) => line.reason === 'internal_error')).toEqual([]);
  });
});
