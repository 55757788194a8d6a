/**
 * Headers only tollgate may set are removed from every allowed request, on both transports, whatever
 * the config's strip list says:
 * - issue 36, reproduction 2: a custom `internalTokens.header` (a leaked internal token replayed from
 *   outside) on every allow that mints nothing — anonymous routes, rules without internalToken, dry-run
 *   would-denies;
 * - issue 34: the injected `x-user-view-as`, with a strip list that lacks the `x-user-` prefix.
 * And (issue 34) a rule with internalToken over a call without a client certificate denies
 * (internal_error): `act.sub` is only ever the Check caller's certificate, never `source.principal`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateKeys } from '../../src/internal-tokens/rotate.js';
import { askAuthz } from '../helpers/authz-http.js';
import { checkRequest } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { TestCa } from '../helpers/pki.js';
import { es256Provider, nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const FORGED = { 'x-internal-token': 'eyJhbGciOiJFUzI1NiJ9.leaked.sig', 'x-user-view-as': 'teacher' };

let key: TestKey;
let jwksServer: TestHttpServer;
let keysDir: string;
let tg: RunningTollgate;
let ca: TestCa;
const ENVOY = 'spiffe://test.local/ns/edge/sa/gateway';

beforeAll(async () => {
  key = await testKey('ES256');
  jwksServer = await startJwksServer(jwks(key));
  keysDir = mkdtempSync(join(tmpdir(), 'tollgate-strip-keys-'));
  await rotateKeys(keysDir, { algorithm: 'ES256', publishAheadSeconds: 0, ttlSeconds: 120, nowSeconds: nowSeconds() - 60 });
  // Minting needs the caller's certificate on Check (listen.tls); these allows mint nothing.
  ca = new TestCa();
  const server = ca.issue('spiffe://test.local/ns/edge/sa/tollgate', { days: 30 });
  const client = ca.issue(ENVOY, { days: 30 });
  const tls = { certFile: 'tls.crt', keyFile: 'tls.key', clientCaFile: 'ca.crt', allowedClients: [ENVOY] };
  const credentials = grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(client.key), Buffer.from(client.cert));
  tg = await startTollgate(
    {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0', tls },
      providers: [{ ...es256Provider(ISSUER, 'api', `${jwksServer.url}/jwks`), claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }] }],
      internalTokens: { issuer: 'https://gateway.tollgate.test', keysDir, header: 'x-internal-token', publishAheadSeconds: 0 },
      identityHeaders: { strip: ['x-auth-'] },
      authz: { trustForwardedClientCert: true },
      viewAs: { allow: { teacher: ['student'] } },
      rules: [
        { id: 'open', match: { paths: ['/open/**'] }, require: { anonymous: true } },
        { id: 'shadow', match: { paths: ['/shadow/**'] }, require: { roles: { anyOf: ['admin'] } }, dryRun: true },
        { id: 'mint', match: { paths: ['/mint/**'] }, require: { authenticated: true }, internalToken: { audience: 'svc' } },
        { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
      ],
    },
    { 'tls.crt': server.cert, 'tls.key': server.key, 'ca.crt': ca.cert },
    { clientCredentials: credentials },
  );
});
afterAll(async () => {
  await tg?.close();
  await jwksServer?.close();
  ca?.remove();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
});

const bearer = async () => ({ authorization: `Bearer ${await mint(ISSUER, 'api', { key, now: nowSeconds(tg.clock) })}` });

describe.each([
  ['an anonymous route', '/open/page', false],
  ['a rule without internalToken', '/things', true],
  ['a dry-run would-deny', '/shadow/x', true],
])('on %s', (_name, path, withToken) => {
  it('the gRPC allow removes the client’s internal-token header and x-user-view-as', async () => {
    const headers = { ...FORGED, ...(withToken ? await bearer() : {}) };
    const response = await tg.client.check(checkRequest({ path, headers }));
    expect(response.status?.code ?? 0).toBe(0);
    expect(response.ok_response?.headers_to_remove).toEqual(expect.arrayContaining(['x-internal-token', 'x-user-view-as']));
    expect((response.ok_response?.headers ?? []).map((h) => h.header?.key)).not.toContain('x-internal-token');
  });

  it('the HTTP authorization port (Envoy http_service) tells Envoy to remove them too', async () => {
    const headers = { ...FORGED, ...(withToken ? await bearer() : {}) };
    const answer = await askAuthz(tg.app.authzPort, 'envoy', { path, headers });
    expect(answer.status).toBe(200);
    const removed = (answer.headers['x-envoy-auth-headers-to-remove'] ?? '').split(/,\s*/);
    expect(removed).toEqual(expect.arrayContaining(['x-internal-token', 'x-user-view-as']));
    expect(answer.headers['x-internal-token']).toBeUndefined();
  });
});

describe('act.sub comes from the Check caller’s client certificate only', () => {
  const PEER = 'spiffe://test.local/ns/shop/sa/claimed-by-the-request';

  it('the HTTP port, with no client certificate on its own connection, denies (internal_error) though the request names a peer', async () => {
    const answer = await askAuthz(tg.app.authzPort, 'envoy', { path: '/mint/x', headers: await bearer(), peer: PEER });
    expect(answer.status).toBe(500);
    expect(JSON.parse(answer.body)).toMatchObject({ reason: 'internal_error' });
    expect(answer.headers['x-internal-token']).toBeUndefined();
  });

  it('over gRPC the minted act.sub is the certificate’s SPIFFE ID, not the request’s source.principal', async () => {
    const response = await tg.client.check(checkRequest({ path: '/mint/x', headers: await bearer(), principal: PEER }));
    expect(response.status?.code ?? 0).toBe(0);
    const minted = (response.ok_response?.headers ?? []).find((h) => h.header?.key === 'x-internal-token')?.header?.value ?? '';
    expect(decodeJwt(minted).act).toEqual({ sub: ENVOY });
  });
});
