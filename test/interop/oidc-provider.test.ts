import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateProof, generateKeyPair, type KeyPair } from 'dpop';
import { exportJWK, generateKeyPair as joseKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { TestCa } from '../helpers/pki.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const HOST = 'api.example.com';
const PATH = '/api/orders';
const SECRET = 'a-client-secret-of-enough-length-0123456789';
/** oidc-provider binds a client's tokens one way: the mTLS client's to its certificate, the other's to a DPoP key. */
const CLIENTS = { mtls: 'orders-mtls', dpop: 'orders-dpop' } as const;

/**
 * Interop with a real authorization server: oidc-provider (OpenID-certified) on loopback issues
 * DPoP-bound and certificate-bound JWT access tokens (its dPoP and mTLS features), proofs come from the
 * `dpop` client library, and tollgate must accept each with its sender and refuse it without.
 */
describe('sender-constrained tokens from oidc-provider', () => {
  let server: Server;
  let issuer: string;
  let tg: RunningTollgate;
  let ca: TestCa;
  let certA: string;
  let certB: string;

  beforeAll(async () => {
    const { privateKey } = await joseKeyPair('ES256', { extractable: true });
    const signingJwk = { ...(await exportJWK(privateKey)), kid: 'as-1', alg: 'ES256', use: 'sig' };
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = new Provider(issuer, {
      clients: Object.values(CLIENTS).map((id) => ({
        client_id: id,
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        id_token_signed_response_alg: 'ES256',
        tls_client_certificate_bound_access_tokens: id === CLIENTS.mtls,
      })),
      jwks: { keys: [signingJwk] },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        dPoP: { enabled: true },
        // The test stands in for the TLS terminator in front of the AS: it hands over the client certificate.
        mTLS: {
          enabled: true,
          certificateBoundAccessTokens: true,
          getCertificate: (ctx) => decodeURIComponent(ctx.get('x-test-client-cert')),
        },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => 'urn:orders',
          getResourceServerInfo: () => ({
            scope: 'orders',
            audience: 'orders-api',
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          }),
        },
      },
    });
    const handle = provider.callback();
    server.on('request', (req, res) => void handle(req, res));
    tg = await startTollgate({
      providers: [
        {
          name: 'as',
          issuer,
          audiences: ['orders-api'],
          algorithms: ['ES256'],
          typ: 'at+jwt',
          jwks: { uri: `${issuer}/jwks` },
          dpop: { algorithms: ['ES256'] },
        },
      ],
      rules: [{ id: 'orders', match: { paths: ['/api/**'] }, require: { authenticated: true } }],
    });
    ca = new TestCa();
    certA = encodeURIComponent(ca.issue('spiffe://cluster.local/ns/shop/sa/orders-client').cert);
    certB = encodeURIComponent(ca.issue('spiffe://cluster.local/ns/shop/sa/someone-else').cert);
  });

  afterAll(async () => {
    await tg?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** client_credentials at the AS's token endpoint; with `dpop` a proof for it, with `cert` the client certificate. */
  const accessToken = async (options: { dpop: KeyPair } | { cert: string }) => {
    const client = 'dpop' in options ? CLIENTS.dpop : CLIENTS.mtls;
    const tokenEndpoint = `${issuer}/token`;
    const headers: Record<string, string> = {
      authorization: `Basic ${Buffer.from(`${client}:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    };
    if ('dpop' in options) headers.dpop = await generateProof(options.dpop, tokenEndpoint, 'POST');
    else headers['x-test-client-cert'] = options.cert;
    const response = await fetch(tokenEndpoint, { method: 'POST', headers, body: 'grant_type=client_credentials&scope=orders' });
    const body = (await response.json()) as { access_token: string; token_type: string };
    expect(response.status, JSON.stringify(body)).toBe(200);
    return body;
  };
  const reasonOf = async (headers: Record<string, string>, certificate?: string) => {
    const response = await tg.client.check(checkRequest({ host: HOST, path: PATH, headers, certificate }));
    return response.status?.code === 0 ? 'allowed' : deniedBody(response).reason;
  };

  it('accepts a DPoP-bound token with a proof from the dpop library, once, and refuses it as Bearer', async () => {
    const key = await generateKeyPair('ES256');
    const { access_token: token, token_type } = await accessToken({ dpop: key });
    expect(token_type).toBe('DPoP');
    const proof = await generateProof(key, `https://${HOST}${PATH}`, 'GET', undefined, token);
    expect(await reasonOf({ authorization: `DPoP ${token}`, dpop: proof })).toBe('allowed');
    expect(await reasonOf({ authorization: `DPoP ${token}`, dpop: proof })).toBe('dpop_proof_replayed');
    expect(await reasonOf({ authorization: `Bearer ${token}` })).toBe('dpop_required');
    const stranger = await generateKeyPair('ES256');
    const strangerProof = await generateProof(stranger, `https://${HOST}${PATH}`, 'GET', undefined, token);
    expect(await reasonOf({ authorization: `DPoP ${token}`, dpop: strangerProof })).toBe('dpop_key_mismatch');
  });

  it('accepts a certificate-bound token with its certificate only', async () => {
    const { access_token: token, token_type } = await accessToken({ cert: certA });
    expect(token_type).toBe('Bearer');
    expect(await reasonOf({ authorization: `Bearer ${token}` }, certA)).toBe('allowed');
    expect(await reasonOf({ authorization: `Bearer ${token}` }, certB)).toBe('certificate_mismatch');
    expect(await reasonOf({ authorization: `Bearer ${token}` })).toBe('certificate_mismatch');
  });
});
