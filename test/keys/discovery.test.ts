import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeServers, count, harness, json, jwks, makeKey, startServer, stopManagers, type TestKey, type TestServer } from './helpers.js';

const WELL_KNOWN = '/.well-known/openid-configuration';

let idp: TestServer;
let k1: TestKey;

beforeEach(async () => {
  k1 = await makeKey('RS256', 'k1');
  idp = await startServer();
});
afterEach(async () => {
  stopManagers();
  await closeServers();
});

/** The IdP serves discovery and JWKS; `overrides` tamper with the discovery document. */
function serve(overrides: Record<string, unknown> = {}): void {
  idp.handler = (req, res) =>
    (req.url === WELL_KNOWN ? json({ issuer: idp.origin, jwks_uri: `${idp.origin}/jwks`, ...overrides }) : json(jwks(k1)))(req, res);
}

describe('OIDC discovery', () => {
  it('finds the JWKS through the discovery document', async () => {
    serve();
    const { manager } = harness({ discovery: true }, { issuer: idp.origin });
    await manager.start();
    expect(manager.status()).toMatchObject({ ready: true, keys: 1 });
    expect((await manager.getKey({ alg: 'RS256', kid: 'k1' })).id).toMatch(/^k1#/);
    expect(count(idp, WELL_KNOWN)).toBe(1);
  });

  it('rejects a document whose issuer is not exactly the configured one', async () => {
    serve({ issuer: `${idp.origin}/` });
    const { manager } = harness({ discovery: true }, { issuer: idp.origin });
    await manager.start();
    expect(manager.status()).toMatchObject({ ready: false, lastError: expect.stringMatching(/issuer .* does not equal/) });
    expect(count(idp)).toBe(0);
  });

  it('rejects a jwks_uri on another origin unless allowedJwksOrigins lists it', async () => {
    const other = await startServer(json(jwks(k1)));
    serve({ jwks_uri: `${other.origin}/jwks` });
    const denied = harness({ discovery: true }, { issuer: idp.origin });
    await denied.manager.start();
    expect(denied.manager.status()).toMatchObject({ ready: false, lastError: expect.stringMatching(/not in allowedJwksOrigins/) });
    expect(count(other)).toBe(0);

    const allowed = harness({ discovery: true, allowedJwksOrigins: [other.origin] }, { issuer: idp.origin });
    await allowed.manager.start();
    expect(allowed.manager.status()).toMatchObject({ ready: true, keys: 1 });
    expect(count(other)).toBe(1);
  });

  it('rejects a plain-http jwks_uri on a non-loopback host', async () => {
    serve({ jwks_uri: 'http://idp.example.com/jwks' });
    const { manager } = harness({ discovery: true, allowedJwksOrigins: ['http://idp.example.com'] }, { issuer: idp.origin });
    await manager.start();
    expect(manager.status().lastError).toMatch(/jwks_uri must be an https URL/);
  });
});
