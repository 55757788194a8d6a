/**
 * TokenVerifier at its edges: the size limit's boundary, a cache turned off, and a key source failing
 * with something other than a KeyError (a bug, not a verdict: it must reach the Check's fail-closed
 * catch as an error, not become a quiet `unknown_key`).
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { providerSchema } from '../../src/config/providers.js';
import { KeyError, type KeyManager } from '../../src/keys/index.js';
import type { ApiKeyStore, Introspector } from '../../src/opaque/index.js';
import { TokenVerifier, type ProviderRuntime } from '../../src/pipeline/verify.js';
import { ManualClock } from '../../src/util/clock.js';
import { CONFIG_YAML, NOW_MS, testConfig, testRuntime, token } from './helpers.js';

const runtimeWith = (yaml: string) => testRuntime(testConfig(`${CONFIG_YAML}${yaml}`)).runtime;
/** A provider of issuer https://idp.example.com for audience api, as the schema reads it; `more` adds or overrides keys. */
const idpConfig = (more: Record<string, unknown>) =>
  providerSchema.parse({ name: 'idp', issuer: 'https://idp.example.com', audiences: ['api'], ...more });
/** The default token location: `Authorization: Bearer`. */
const BEARER = { kind: 'header', key: 'header:authorization bearer', name: 'authorization', prefix: 'Bearer ' } as const;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('TokenVerifier', () => {
  it('verifies a token of exactly limits.maxTokenBytes, and refuses one byte more unread', async () => {
    const t = await token({ padding: 'x'.repeat(120) });
    const at = (limit: number) => {
      const runtime = runtimeWith(`limits: { maxTokenBytes: ${limit} }\n`);
      return runtime.verifier.verify(t, runtime.locations[0]!);
    };
    expect(await at(t.length)).toMatchObject({ ok: true });
    expect(await at(t.length - 1)).toEqual({ ok: false, reason: 'token_too_large' });
  });

  it('answers a cache hit synchronously, and a token it has to verify with a promise', async () => {
    const runtime = runtimeWith('');
    const t = await token();
    const first = runtime.verifier.verify(t, runtime.locations[0]!);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toMatchObject({ ok: true, cached: false });
    // No promise per cached Check (the common case): nothing for the garbage collector.
    expect(runtime.verifier.verify(t, runtime.locations[0]!)).toMatchObject({ ok: true, cached: true });
  });

  it('verifies every time when tokenCache.maxEntries is 0', async () => {
    const runtime = runtimeWith('tokenCache: { maxEntries: 0 }\n');
    const t = await token();
    const first = await runtime.verifier.verify(t, runtime.locations[0]!);
    const second = await runtime.verifier.verify(t, runtime.locations[0]!);
    expect([first, second]).toMatchObject([
      { ok: true, cached: false },
      { ok: true, cached: false },
    ]);
    expect(runtime.verifier.cacheSize).toBe(0);
  });

  it('lets a key source error that is not a KeyError through, and maps KeyErrors to reasons', async () => {
    const config = idpConfig({ algorithms: ['ES256'], jwks: { uri: 'https://idp.example.com/jwks' } });
    const location = BEARER;
    const now = NOW_MS / 1000;
    const jwt = `${b64({ alg: 'ES256', kid: 'k' })}.${b64({ iss: config.issuer, aud: 'api', sub: 'alice', iat: now, exp: now + 60 })}.c2ln`;
    const verifierFailingWith = (error: Error) => {
      const keys = {
        getKey: () => Promise.reject(error),
      } as unknown as KeyManager;
      const provider = { config, keys, locationKeys: new Set([location.key]), claimHeaders: [] };
      return new TokenVerifier([provider], { maxTokenBytes: 8192, clock: new ManualClock(NOW_MS), cacheEntries: 10 });
    };
    await expect(verifierFailingWith(new TypeError('a bug in the key source')).verify(jwt, location)).rejects.toThrow(TypeError);
    expect(await verifierFailingWith(new KeyError('unknown_key', 'no such kid')).verify(jwt, location)).toMatchObject({
      ok: false,
      reason: 'unknown_key',
    });
    expect(await verifierFailingWith(new KeyError('keys_unavailable', 'down')).verify(jwt, location)).toMatchObject({
      ok: false,
      reason: 'keys_unavailable',
    });
    expect(await verifierFailingWith(new KeyError('alg_mismatch', 'pinned')).verify(jwt, location)).toMatchObject({
      ok: false,
      reason: 'unsupported_algorithm',
    });
  });

  it('chooses a JWT provider by iss even when an introspection provider names the same issuer', async () => {
    // config/schema.ts lets an introspection provider share a JWT provider's issuer (one authorization
    // server issuing both kinds): only JWT providers may be chosen by `iss`, whatever order they come in.
    const secret = new TextEncoder().encode('verify-unit-test-secret-0123456789abcdef');
    const bearer = BEARER;
    const jwtConfig = idpConfig({ algorithms: ['HS256'], hmacSecret: { env: 'UNUSED_IN_THIS_TEST' } });
    const opaqueConfig = providerSchema.parse({
      name: 'as',
      issuer: 'https://idp.example.com',
      audiences: ['api'],
      introspection: { url: 'https://idp.example.com/introspect', clientId: 'tollgate', clientSecret: { file: 'secret' } },
      fromHeaders: [{ name: 'x-opaque' }],
    });
    const introspector = { answer: () => ({ kind: 'inactive' }) } as unknown as Introspector;
    const jwt: ProviderRuntime = { config: jwtConfig, hmacKey: secret, locationKeys: new Set([bearer.key]), claimHeaders: [] };
    // Its own location, as OpaqueTokens requires: `iss` routing must not reach it at all.
    const opaque: ProviderRuntime = { config: opaqueConfig, introspector, locationKeys: new Set(['header:x-opaque']), claimHeaders: [] };
    const iat = Math.floor(NOW_MS / 1000);
    const signed = (iss: string) =>
      new SignJWT({ sub: 'alice' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(iss)
        .setAudience('api')
        .setIssuedAt(iat)
        .setExpirationTime(iat + 60)
        .sign(secret);
    const verifier = new TokenVerifier([jwt, opaque], { maxTokenBytes: 8192, clock: new ManualClock(NOW_MS), cacheEntries: 10 });
    expect(await verifier.verify(await signed('https://idp.example.com'), bearer)).toMatchObject({ ok: true, token: { provider: jwt } });
    // No entry but the JWT providers' issuers: any other `iss`, however short, names no provider.
    for (const iss of ['S', 'https://as.example.com']) {
      expect(await verifier.verify(await signed(iss), bearer)).toEqual({ ok: false, reason: 'unknown_issuer' });
    }
  });

  it('answers unsupported_algorithm for HS* without a secret and unknown_key without a key source (runtimes a validated config never builds)', async () => {
    const location = BEARER;
    const config = idpConfig({
      algorithms: ['ES256', 'HS256'],
      jwks: { uri: 'https://idp.example.com/jwks' },
      hmacSecret: { env: 'UNUSED_IN_THIS_TEST' },
    });
    const now = NOW_MS / 1000;
    const jwt = (alg: string) => `${b64({ alg })}.${b64({ iss: config.issuer, aud: 'api', sub: 'alice', iat: now, exp: now + 60 })}.c2ln`;
    const provider: ProviderRuntime = { config, locationKeys: new Set([location.key]), claimHeaders: [] };
    const verifier = new TokenVerifier([provider], { maxTokenBytes: 8192, clock: new ManualClock(NOW_MS), cacheEntries: 10 });
    expect(await verifier.verify(jwt('HS256'), location)).toEqual({ ok: false, reason: 'unsupported_algorithm', provider });
    expect(await verifier.verify(jwt('ES256'), location)).toEqual({ ok: false, reason: 'unknown_key', provider });
  });

  it('hands a token that is no JWS, from an opaque provider’s place, to that provider', async () => {
    const location = { kind: 'header', key: 'header:x-api-key', name: 'x-api-key', prefix: '' } as const;
    const config = providerSchema.parse({ name: 'partners', apiKeys: { file: 'api-keys.yaml' }, fromHeaders: [{ name: 'x-api-key' }] });
    const entry = { id: 'ci', digest: Buffer.alloc(32), claims: { sub: 'ci', jti: 'ci' }, expiresAtMs: undefined };
    const apiKeys = { lookup: () => entry } as unknown as ApiKeyStore;
    const provider: ProviderRuntime = { config, apiKeys, locationKeys: new Set([location.key]), claimHeaders: [] };
    const verifier = new TokenVerifier([provider], { maxTokenBytes: 8192, clock: new ManualClock(NOW_MS), cacheEntries: 10 });
    expect(await verifier.verify('tg_0123456789abcdef', location)).toMatchObject({ ok: true, token: { provider, keyId: 'api-key:ci' } });
  });

  it('denies a cached token as unknown_key once its signing key is no longer current', async () => {
    const location = BEARER;
    const config = idpConfig({ algorithms: ['ES256'], jwks: { uri: 'https://idp.example.com/jwks' } });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    let current = true;
    const keys = { getKey: () => Promise.resolve({ id: 'k1', key: publicKey }), isCurrent: () => current } as unknown as KeyManager;
    const provider: ProviderRuntime = { config, keys, locationKeys: new Set([location.key]), claimHeaders: [] };
    const verifier = new TokenVerifier([provider], { maxTokenBytes: 8192, clock: new ManualClock(NOW_MS), cacheEntries: 10 });
    const iat = Math.floor(NOW_MS / 1000);
    const jwt = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://idp.example.com')
      .setAudience('api')
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .sign(privateKey);
    expect(await verifier.verify(jwt, location)).toMatchObject({ ok: true, cached: false });
    expect(verifier.verify(jwt, location)).toMatchObject({ ok: true, cached: true });
    current = false; // the key was removed from the JWKS: the cached verdict no longer holds
    expect(verifier.verify(jwt, location)).toEqual({ ok: false, reason: 'unknown_key', provider });
    expect(verifier.cacheSize).toBe(0);
  });
});
