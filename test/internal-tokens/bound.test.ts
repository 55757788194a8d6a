/**
 * `internalTokens.bindToCaller` over real sockets: a gateway tollgate on mTLS mints tokens bound to the
 * certificate its caller (the gateway's Envoy) presented on the Check RPC; a sidecar tollgate allows
 * such a token only with that certificate in `source.certificate`, as the sidecar's Envoy reports the
 * calling workload. A token lifted from a log and replayed from outside the mesh (no certificate, or
 * another workload's) is refused.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internalTokensSchema } from '../../src/internal-tokens/index.js';
import { rotateKeys } from '../../src/internal-tokens/rotate.js';
import { checkRequest, deniedBody, EnvoyClient, injectedHeaders } from '../helpers/envoy-client.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { TestCa, TLS_CHANNEL_OPTIONS, type IssuedPair } from '../helpers/pki.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const GATEWAY = 'spiffe://test.local/ns/edge/sa/gateway';
const STRANGER = 'spiffe://test.local/ns/shop/sa/stranger';
const IDP = 'https://idp.example';
const GATEWAY_ISSUER = 'https://gateway.tollgate.test';
const AUDIENCE = 'orders.shop.svc';
/** Ahead of the machine's clock, so certificates openssl issues during setup are already valid. */
const START = Math.floor(Date.now() / 1000) * 1000 + 60_000;

let ca: TestCa;
let idpKey: TestKey;
let gatewayEnvoy: IssuedPair;
/** The gateway Envoy's next certificate (same SPIFFE ID, new key), as after a renewal. */
let renewedEnvoy: IssuedPair;
let strangerEnvoy: IssuedPair;
let keysDir: string;
let gateway: RunningTollgate;
let sidecar: RunningTollgate;

const mtls = (pair: IssuedPair) => grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(pair.key), Buffer.from(pair.cert));
const thumbprint = (pair: IssuedPair) => createHash('sha256').update(new X509Certificate(pair.cert).raw).digest('base64url');
const nowS = () => Math.floor(gateway.clock.now() / 1000);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const tokenOf = (header: string | undefined) => header?.replace(/^Bearer /, '') ?? '';

function externalToken(sub: string): Promise<string> {
  return mint(IDP, 'api', { key: idpKey, now: nowS(), claims: { sub } });
}

/** The gateway's minted token for `sub`, asked over `client` (an Envoy presenting its certificate). */
async function mintedVia(client: EnvoyClient, sub: string): Promise<string> {
  const response = await client.check(checkRequest({ host: AUDIENCE, path: '/orders/42', headers: bearer(await externalToken(sub)) }));
  expect(response.status?.code ?? 0).toBe(0);
  return tokenOf(injectedHeaders(response).authorization);
}

/**
 * The sidecar's decision for a request carrying `token` over a connection from `peer`: its Envoy
 * sends the calling workload's certificate (include_peer_certificate) and SPIFFE ID; no peer is a
 * connection without a client certificate.
 */
async function atSidecar(token: string, peer?: IssuedPair, principal = GATEWAY): Promise<string> {
  const response = await sidecar.client.check(
    checkRequest({
      host: AUDIENCE,
      path: '/orders/42',
      headers: bearer(token),
      ...(peer ? { principal, certificate: encodeURIComponent(peer.cert) } : {}),
    }),
  );
  return response.status?.code === 0 ? 'allowed' : String(deniedBody(response).reason);
}

/** GET on the gateway's HTTPS port (listen.httpTls with a client CA), as the given client. */
function httpsGet(port: number, path: string, pair: IssuedPair, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', servername: 'localhost', port, path, headers, ca: ca.cert, cert: pair.cert, key: pair.key, agent: false },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  ca = new TestCa();
  idpKey = await testKey('ES256');
  gatewayEnvoy = ca.issue(GATEWAY, { days: 30 });
  renewedEnvoy = ca.issue(GATEWAY, { days: 30 });
  strangerEnvoy = ca.issue(STRANGER, { days: 30 });
  keysDir = mkdtempSync(join(tmpdir(), 'tollgate-bound-keys-'));
  await rotateKeys(keysDir, { algorithm: 'ES256', publishAheadSeconds: 60, ttlSeconds: 120, nowSeconds: START / 1000 - 3600 });

  const server = ca.issue('spiffe://test.local/ns/edge/sa/tollgate', { days: 30 });
  const tls = { certFile: 'tls.crt', keyFile: 'tls.key', clientCaFile: 'ca.crt', allowedClients: ['spiffe://test.local/ns/edge/*'] };
  gateway = await startTollgate(
    {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0', tls, httpTls: tls },
      providers: [{ name: 'idp', issuer: IDP, audiences: ['api'], algorithms: ['ES256'], jwks: { file: 'idp.json' } }],
      internalTokens: { issuer: GATEWAY_ISSUER, keysDir, publishAheadSeconds: 60, bindToCaller: true },
      rules: [
        {
          id: 'orders',
          match: { hosts: [AUDIENCE], paths: ['/orders/{orderId}'] },
          require: { authenticated: true },
          internalToken: { audience: AUDIENCE },
        },
      ],
    },
    { 'tls.crt': server.cert, 'tls.key': server.key, 'ca.crt': ca.cert, 'idp.json': jwks(idpKey) },
    { clockStart: START, clientCredentials: mtls(gatewayEnvoy) },
  );

  // The sidecar verifies with the JWKS the gateway serves (fetched here once: the gateway's HTTP port
  // asks for a client certificate, which a JWKS fetch from another tollgate would not present).
  const served = await httpsGet(gateway.app.httpPort, '/.well-known/jwks.json', gatewayEnvoy);
  expect(served.status).toBe(200);
  sidecar = await startTollgate(
    {
      providers: [
        {
          name: 'gateway',
          issuer: GATEWAY_ISSUER,
          audiences: [AUDIENCE],
          algorithms: ['ES256'],
          typ: 'tollgate-internal+jwt',
          jwks: { file: 'gateway-jwks.json' },
          claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }],
        },
      ],
      rules: [{ id: 'in', match: { paths: ['/**'] }, require: { actor: { principals: [GATEWAY] } } }],
    },
    { 'gateway-jwks.json': served.body },
    { clockStart: START },
  );
});

afterAll(async () => {
  for (const tg of [gateway, sidecar]) await tg?.close();
  ca?.remove();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
});

describe('internalTokens.bindToCaller', () => {
  it('binds the minted token to the certificate the gateway Envoy presented on Check; the sidecar takes it only with that certificate', async () => {
    const token = await mintedVia(gateway.client, 'alice');
    expect(decodeJwt(token)).toMatchObject({ sub: 'alice', act: { sub: GATEWAY }, cnf: { 'x5t#S256': thumbprint(gatewayEnvoy) } });

    expect(await atSidecar(token, gatewayEnvoy)).toBe('allowed');
    // Replayed from outside the mesh: a connection without a client certificate, or another workload's.
    expect(await atSidecar(token)).toBe('certificate_mismatch');
    expect(await atSidecar(token, strangerEnvoy, STRANGER)).toBe('certificate_mismatch');
    // The gateway's own SPIFFE ID on another certificate (its next one) is not the bound certificate either.
    expect(await atSidecar(token, renewedEnvoy)).toBe('certificate_mismatch');
  });

  it('keys the minted-token cache on the certificate: after a renewal (same SPIFFE ID) a new token is minted, never the old one', async () => {
    const before = await mintedVia(gateway.client, 'bob');
    expect(await mintedVia(gateway.client, 'bob')).toBe(before); // cached for the same certificate

    const renewed = new EnvoyClient(gateway.app.grpcPort, mtls(renewedEnvoy), TLS_CHANNEL_OPTIONS);
    try {
      const after = await mintedVia(renewed, 'bob');
      expect(after).not.toBe(before);
      expect(decodeJwt(after)).toMatchObject({ act: { sub: GATEWAY }, cnf: { 'x5t#S256': thumbprint(renewedEnvoy) } });
      expect(await atSidecar(after, renewedEnvoy)).toBe('allowed');
      expect(await atSidecar(after, gatewayEnvoy)).toBe('certificate_mismatch');
      // Both certificates' tokens stay cached side by side, each for its own certificate.
      expect(await mintedVia(gateway.client, 'bob')).toBe(before);
      expect(await mintedVia(renewed, 'bob')).toBe(after);
    } finally {
      renewed.close();
    }
  });

  it('binds to the client certificate on the HTTP authorization port (listen.httpTls with clientCaFile) too', async () => {
    const answer = await httpsGet(gateway.app.authzPort, '/envoy/orders/42', gatewayEnvoy, {
      host: AUDIENCE,
      ...bearer(await externalToken('carol')),
    });
    expect(answer.status).toBe(200);
    const token = tokenOf(answer.headers.authorization as string | undefined);
    expect(decodeJwt(token)).toMatchObject({ sub: 'carol', act: { sub: GATEWAY }, cnf: { 'x5t#S256': thumbprint(gatewayEnvoy) } });
    expect(await atSidecar(token, gatewayEnvoy)).toBe('allowed');
    expect(await atSidecar(token)).toBe('certificate_mismatch');
  });

  it("never copies the external token's cnf: it names the client's key or certificate, not the next hop's caller", () => {
    const parsed = internalTokensSchema.safeParse({ issuer: GATEWAY_ISSUER, keysDir: '/keys', claims: ['roles', 'cnf'] });
    expect(parsed.success).toBe(false);
    expect(internalTokensSchema.parse({ issuer: GATEWAY_ISSUER, keysDir: '/keys' }).bindToCaller).toBe(false);
  });
});
