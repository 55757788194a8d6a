import { KeyObject, constants, createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { CompactEncrypt, SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { startHttpServer, startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'api';
const SKEW = 30;

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/**
 * Every attack from the threat model, each over a real gRPC connection against keys served by a real
 * JWKS server. Each must be denied with code 16 and the reason named.
 */
describe('JWT attacks', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let attackerServer: TestHttpServer;
  const keys: Record<string, TestKey> = {};
  let weakRsa: TestKey;
  let encKey: TestKey;
  let attacker: TestKey;

  const now = () => nowSeconds(tg.clock);
  const good = (key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    mint(ISSUER, AUDIENCE, { key, claims, header, now: now() });
  const check = (token: string, path = '/api') => tg.client.check(checkRequest({ path, headers: { authorization: `Bearer ${token}` } }));
  const expectDenied = async (token: string, reason: string) => {
    const response = await check(token);
    expect(response.status?.code, `status for ${reason}`).toBe(16);
    expect(response.denied_response?.status?.code).toBe('Unauthorized');
    expect(deniedBody(response).reason).toBe(reason);
  };
  /** Re-signs arbitrary header and payload segments with a test key (for shapes jose would refuse to produce). */
  const forge = async (key: TestKey, header: object, payload: object | string) => {
    const signingInput = `${b64(header)}.${typeof payload === 'string' ? payload : b64(payload)}`;
    const ecdsa = key.alg.startsWith('ES');
    const signature = sign(key.alg === 'EdDSA' ? null : 'sha256', Buffer.from(signingInput), {
      key: key.privateKey instanceof KeyObject ? key.privateKey : KeyObject.from(key.privateKey),
      ...(ecdsa ? { dsaEncoding: 'ieee-p1363' as const } : {}),
    });
    return `${signingInput}.${signature.toString('base64url')}`;
  };
  const claims = () => ({ iss: ISSUER, aud: AUDIENCE, sub: 'user-123', iat: now(), exp: now() + 300 });

  beforeAll(async () => {
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) keys[alg] = await testKey(alg);
    // jose refuses to create or use RSA keys under 2048 bits, so the weak key comes from node:crypto.
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weakJwk = weak.publicKey.export({ format: 'jwk' });
    weakRsa = {
      alg: 'RS256',
      kid: 'weak-1024',
      privateKey: weak.privateKey as never,
      publicJwk: { ...weakJwk, kid: 'weak-1024', alg: 'RS256', use: 'sig' },
    };
    encKey = await testKey('RS256');
    encKey.publicJwk = { ...encKey.publicJwk, use: 'enc' };
    attacker = await testKey('RS256', { kid: keys.RS256!.kid });
    jwksServer = await startJwksServer({ keys: [...Object.values(keys).map((k) => k.publicJwk), weakRsa.publicJwk, encKey.publicJwk] });
    attackerServer = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [attacker.publicJwk] }));
    });
    tg = await startTollgate({
      providers: [
        {
          name: 'idp',
          issuer: ISSUER,
          audiences: [AUDIENCE, 'other-api'],
          algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
          jwks: { uri: `${jwksServer.url}/jwks.json` },
          clockSkewSeconds: SKEW,
        },
        {
          name: 'typed',
          issuer: 'https://typed.example.com',
          audiences: [AUDIENCE],
          algorithms: ['ES256'],
          typ: 'at+jwt',
          jwks: { uri: `${jwksServer.url}/jwks.json` },
        },
      ],
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
    await attackerServer?.close();
  });

  describe('positives', () => {
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
      it(`accepts ${alg} signed by a key from the JWKS`, async () => {
        const response = await check(await good(keys[alg]!));
        expect(response.status?.code).toBe(0);
      });
    }
    it('accepts aud as a string and as an array', async () => {
      expect((await check(await good(keys.ES256!, { aud: AUDIENCE }))).status?.code).toBe(0);
      expect((await check(await good(keys.ES256!, { aud: ['unrelated', AUDIENCE] }))).status?.code).toBe(0);
    });
    it('accepts a token that expired less than the clock skew ago', async () => {
      expect((await check(await good(keys.ES256!, { exp: now() - SKEW + 1 }))).status?.code).toBe(0);
    });
    it('accepts the configured typ', async () => {
      const t = await mint('https://typed.example.com', AUDIENCE, { key: keys.ES256!, header: { typ: 'at+jwt' }, now: now() });
      expect((await check(t)).status?.code).toBe(0);
    });
  });

  describe('algorithm attacks', () => {
    it('alg none, in any case', async () => {
      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        await expectDenied(`${b64({ alg, typ: 'JWT' })}.${b64(claims())}.`, 'malformed_token');
        await expectDenied(`${b64({ alg, typ: 'JWT' })}.${b64(claims())}.${b64('sig')}`, 'unsupported_algorithm');
      }
    });
    it('HS256 signed with the RSA public key as the secret', async () => {
      const pem = await exportSPKI(createPublicKey({ key: keys.RS256!.publicJwk, format: 'jwk' }));
      for (const secret of [pem, JSON.stringify(keys.RS256!.publicJwk)]) {
        const input = `${b64({ alg: 'HS256', kid: keys.RS256!.kid })}.${b64(claims())}`;
        const sig = createHmac('sha256', secret).update(input).digest('base64url');
        await expectDenied(`${input}.${sig}`, 'unsupported_algorithm');
      }
    });
    it('alg/key-type mismatch: ES256 header naming an RSA key', async () => {
      const t = await forge(keys.ES256!, { alg: 'ES256', kid: keys.RS256!.kid }, claims());
      const response = await check(t);
      expect(response.status?.code).toBe(16);
      expect(['unsupported_algorithm', 'unknown_key']).toContain(deniedBody(response).reason);
    });
    it('RS256 token signed with a key under 2048 bits (dropped from the JWKS)', async () => {
      await expectDenied(await forge(weakRsa, { alg: 'RS256', kid: weakRsa.kid }, claims()), 'unknown_key');
    });
    it('token signed with a JWKS key marked use: enc', async () => {
      await expectDenied(await good(encKey), 'unknown_key');
    });
    it('ECDSA signature with r = s = 0 (CVE-2022-21449)', async () => {
      const t = `${b64({ alg: 'ES256', kid: keys.ES256!.kid })}.${b64(claims())}.${Buffer.alloc(64).toString('base64url')}`;
      await expectDenied(t, 'invalid_signature');
    });
  });

  describe('key-selection attacks', () => {
    it('unknown kid', async () => {
      await expectDenied(await good(keys.ES256!, {}, { kid: 'no-such-key' }), 'unknown_key');
    });
    it('kid injection strings', async () => {
      for (const kid of ['../../../../etc/passwd', "' OR '1'='1", '| cat /etc/shadow', '${jndi:ldap://x}', 'x'.repeat(2000), '\u0000']) {
        await expectDenied(await good(keys.ES256!, {}, { kid }), 'unknown_key');
      }
    });
    it('embedded jwk header naming the attacker key', async () => {
      const t = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', jwk: attacker.publicJwk }).sign(attacker.privateKey);
      const response = await check(t);
      expect(response.status?.code).toBe(16);
      expect(['invalid_signature', 'unknown_key']).toContain(deniedBody(response).reason);
    });
    it("a JWK's own alg pin: a PS256 token naming an RSA key published for RS256 only", async () => {
      // The provider allows RS256 and PS256; each test key's JWK pins its own alg.
      const pss = (key: TestKey) => {
        const input = `${b64({ alg: 'PS256', kid: key.kid })}.${b64(claims())}`;
        const privateKey = KeyObject.from(key.privateKey);
        const signature = sign('sha256', Buffer.from(input), { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
        return `${input}.${signature.toString('base64url')}`;
      };
      expect((await check(pss(keys.PS256!))).status?.code).toBe(0); // the same signing, with the key pinned to PS256
      await expectDenied(pss(keys.RS256!), 'unsupported_algorithm');
    });
    it('jku, x5u and x5c headers are never dereferenced', async () => {
      const before = attackerServer.requests.length;
      const { publicKey } = await generateKeyPair('RS256', { extractable: true });
      const jku = `${attackerServer.url}/jwks.json`;
      for (const header of [
        { jku },
        { x5u: `${attackerServer.url}/cert.pem` },
        { x5c: [b64('not a cert')] },
        { jwk: await exportJWK(publicKey) },
      ]) {
        const t = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: attacker.kid, ...header }).sign(attacker.privateKey);
        await expectDenied(t, 'invalid_signature');
      }
      expect(attackerServer.requests.length).toBe(before);
    });
  });

  describe('serialization attacks', () => {
    it('unknown crit header', async () => {
      await expectDenied(
        await forge(keys.ES256!, { alg: 'ES256', kid: keys.ES256!.kid, crit: ['x-custom'], 'x-custom': 1 }, claims()),
        'malformed_token',
      );
    });
    it('crit naming b64 and an extension tollgate does not know, even with b64: true', async () => {
      const header = { alg: 'ES256', kid: keys.ES256!.kid, b64: true };
      expect((await check(await forge(keys.ES256!, { ...header, crit: ['b64'] }, claims()))).status?.code).toBe(0);
      await expectDenied(await forge(keys.ES256!, { ...header, crit: ['b64', 'exp'] }, claims()), 'malformed_token');
      await expectDenied(await forge(keys.ES256!, { ...header, crit: ['exp', 'b64'] }, claims()), 'malformed_token');
    });
    it('b64: false (unencoded payload)', async () => {
      await expectDenied(
        await forge(keys.ES256!, { alg: 'ES256', kid: keys.ES256!.kid, b64: false, crit: ['b64'] }, claims()),
        'malformed_token',
      );
    });
    it('wrong segment count, and a JWE', async () => {
      const t = await good(keys.ES256!);
      const [h, p, s] = t.split('.');
      await expectDenied(`${h}.${p}`, 'malformed_token');
      await expectDenied(`${h}.${p}.${s}.${s}`, 'malformed_token');
      const jwe = await new CompactEncrypt(Buffer.from(JSON.stringify(claims())))
        .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: encKey.kid })
        .encrypt(createPublicKey({ key: encKey.publicJwk, format: 'jwk' }));
      expect(jwe.split('.')).toHaveLength(5);
      await expectDenied(jwe, 'malformed_token');
    });
    it('padding or whitespace in the signature', async () => {
      const t = await good(keys.ES256!);
      for (const tampered of [`${t}=`, `${t}==`, `${t} `, `${t.slice(0, -4)} ${t.slice(-4)}`, `${t}\t`]) {
        await expectDenied(tampered, 'malformed_token');
      }
    });
    it('non-JSON header or payload', async () => {
      await expectDenied(await forge(keys.ES256!, { alg: 'ES256', kid: keys.ES256!.kid }, b64('not json')), 'malformed_token');
      await expectDenied(`${b64('{"alg":')}.${b64(claims())}.${b64('sig')}`, 'malformed_token');
      await expectDenied(await forge(keys.ES256!, { alg: 'ES256', kid: keys.ES256!.kid }, b64('[1,2,3]')), 'malformed_token');
    });
    it('oversized token', async () => {
      await expectDenied(await good(keys.ES256!, { padding: 'x'.repeat(9000) }), 'token_too_large');
    });
    it('deeply nested JSON', async () => {
      let nested: unknown = 'deep';
      for (let i = 0; i < 200; i++) nested = { n: nested };
      await expectDenied(await forge(keys.ES256!, { alg: 'ES256', kid: keys.ES256!.kid }, { ...claims(), nested }), 'malformed_token');
    });
  });

  describe('claim attacks', () => {
    it('exp and nbf as strings', async () => {
      await expectDenied(await good(keys.ES256!, { exp: String(now() + 300) }), 'invalid_claims');
      await expectDenied(await good(keys.ES256!, { nbf: String(now()) }), 'invalid_claims');
    });
    it('missing exp', async () => {
      await expectDenied(await good(keys.ES256!, { exp: undefined }), 'invalid_claims');
    });
    it('expired by one second beyond the skew', async () => {
      await expectDenied(await good(keys.ES256!, { exp: now() - SKEW - 1 }), 'expired');
    });
    it('an expired token is refused before its signature is checked, so replaying it stays cheap', async () => {
      const expired = await good(keys.ES256!, { exp: now() - SKEW - 1 });
      await expectDenied(`${expired.slice(0, -8)}AAAAAAAA`, 'expired');
    });
    it('nbf in the future beyond the skew', async () => {
      await expectDenied(await good(keys.ES256!, { nbf: now() + SKEW + 5 }), 'not_yet_valid');
    });
    it('wrong or missing aud', async () => {
      await expectDenied(await good(keys.ES256!, { aud: 'someone-else' }), 'invalid_audience');
      await expectDenied(await good(keys.ES256!, { aud: undefined }), 'invalid_audience');
    });
    it('wrong iss: trailing slash, http instead of https, another issuer', async () => {
      for (const iss of [`${ISSUER}/`, ISSUER.replace('https', 'http'), 'https://evil.example.com', undefined]) {
        await expectDenied(await good(keys.ES256!, { iss }), 'unknown_issuer');
      }
    });
    it('wrong typ', async () => {
      for (const typ of ['JWT', 'id_token+jwt', undefined]) {
        const t = await mint('https://typed.example.com', AUDIENCE, { key: keys.ES256!, header: typ ? { typ } : {}, now: now() });
        await expectDenied(t, 'invalid_type');
      }
    });
  });
});
