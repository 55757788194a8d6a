import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { generateProof, generateKeyPair as dpopKeyPair } from 'dpop';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAuthz } from '../helpers/authz-http.js';
import { checkRequest, deniedBody, deniedHeader, type HttpRequestSpec } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { TestCa } from '../helpers/pki.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const STRICT_ISSUER = 'https://strict.example.com';
const AUDIENCE = 'api';
const HOST = 'api.example.com';
const PATH = '/api/things';
const HTU = `https://${HOST}${PATH}`;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('base64url');
/** RFC 8705's x5t#S256 of a URL-encoded PEM certificate. */
const thumbprintOf = (cert: string) => sha256(Buffer.from(decodeURIComponent(cert).replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));

/** A client's DPoP key made with node:crypto, so attack proofs can carry any header at all. */
function clientKey(): { privateKey: KeyObject; jwk: { kty: string; crv: string; x: string; y: string }; jkt: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y: string };
  return { privateKey, jwk: { kty, crv, x, y }, jkt: sha256(JSON.stringify({ crv, kty, x, y })) };
}

/**
 * Sender-constrained tokens over a real gRPC Check: certificate-bound (RFC 8705) and DPoP-bound
 * (RFC 9449), each attack a hand-built token or proof that must be refused with its reason.
 */
describe('sender-constrained tokens', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let idp: TestKey;
  let strict: TestKey;
  let ca: TestCa;
  let certA: string;
  let certB: string;
  const client = clientKey();
  const other = clientKey();
  let jti = 0;

  const now = () => nowSeconds(tg.clock);
  const token = (claims: Record<string, unknown>, issuer = ISSUER, key = idp) => mint(issuer, AUDIENCE, { key, claims, now: now() });
  const dpopToken = (jkt = client.jkt) => token({ cnf: { jkt } });

  /** A proof signed by `key` (default the client's); `header` and `claims` override the valid ones. */
  const proof = (accessToken: string, options: { header?: object; claims?: object; key?: ReturnType<typeof clientKey> } = {}) => {
    const key = options.key ?? client;
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk, ...options.header };
    const claims = { jti: `proof-${++jti}`, htm: 'GET', htu: HTU, iat: now(), ath: sha256(accessToken), ...options.claims };
    const input = `${b64(header)}.${b64(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
  const check = (headers: Record<string, string>, spec: HttpRequestSpec = {}) =>
    tg.client.check(checkRequest({ host: HOST, path: PATH, headers, ...spec }));
  const withDpop = (accessToken: string, dpop: string) => check({ authorization: `DPoP ${accessToken}`, dpop });
  const reasonOf = async (pending: Promise<Awaited<ReturnType<typeof check>>>) => {
    const response = await pending;
    return response.status?.code === 0 ? 'allowed' : deniedBody(response).reason;
  };

  beforeAll(async () => {
    idp = await testKey('ES256');
    strict = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(idp, strict));
    const uri = `${jwksServer.url}/jwks.json`;
    tg = await startTollgate({
      providers: [
        { name: 'idp', issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], jwks: { uri }, dpop: {} },
        {
          name: 'strict',
          issuer: STRICT_ISSUER,
          audiences: [AUDIENCE],
          algorithms: ['ES256'],
          jwks: { uri },
          requireSenderConstraint: true,
          dpop: { algorithms: ['EdDSA'] },
        },
      ],
      rules: [{ id: 'api', match: { paths: ['/api/**'] }, require: { authenticated: true } }],
      authz: { trustForwardedClientCert: true },
    });
    ca = new TestCa();
    certA = encodeURIComponent(ca.issue('spiffe://cluster.local/ns/a/sa/client').cert);
    certB = encodeURIComponent(ca.issue('spiffe://cluster.local/ns/b/sa/other').cert);
  });

  afterAll(async () => {
    await tg.close();
    await jwksServer.close();
  });

  describe('certificate-bound (RFC 8705)', () => {
    it('allows the token with the certificate it is bound to', async () => {
      const bound = await token({ cnf: { 'x5t#S256': thumbprintOf(certA) } });
      expect(await reasonOf(check({ authorization: `Bearer ${bound}` }, { certificate: certA }))).toBe('allowed');
    });

    it('refuses it with another certificate, and with none', async () => {
      const bound = await token({ cnf: { 'x5t#S256': thumbprintOf(certA) } });
      expect(await reasonOf(check({ authorization: `Bearer ${bound}` }, { certificate: certB }))).toBe('certificate_mismatch');
      const response = await check({ authorization: `Bearer ${bound}` });
      expect(deniedBody(response).reason).toBe('certificate_mismatch');
      expect(response.status?.code).toBe(16);
      expect(deniedHeader(response, 'www-authenticate')).toContain('Bearer realm="tollgate", error="invalid_token"');
    });

    it('refuses a cnf member it does not understand, and a cnf that is not an object', async () => {
      const cnfs = [
        { jwk: { kty: 'EC' } },
        { 'x5t#S256': thumbprintOf(certA), 'x5t#S512': 'x' },
        'x5t',
        {},
        { jkt: 7 },
        null,
        [],
        { 'x5t#S256': '' },
        { jkt: '' },
      ];
      for (const cnf of cnfs) {
        expect(
          await reasonOf(check({ authorization: `Bearer ${await token({ cnf })}` }, { certificate: certA })),
          JSON.stringify(cnf),
        ).toBe('unsupported_confirmation');
      }
    });

    it('takes an unbound token over a connection with a client certificate', async () => {
      expect(await reasonOf(check({ authorization: `Bearer ${await token({})}` }, { certificate: certA }))).toBe('allowed');
    });

    it('requires both bindings of a token bound to a certificate and to a DPoP key', async () => {
      const both = await token({ cnf: { 'x5t#S256': thumbprintOf(certA), jkt: client.jkt } });
      expect(await reasonOf(check({ authorization: `DPoP ${both}`, dpop: proof(both) }, { certificate: certA }))).toBe('allowed');
      expect(await reasonOf(check({ authorization: `Bearer ${both}` }, { certificate: certA }))).toBe('dpop_required');
      expect(await reasonOf(check({ authorization: `DPoP ${both}`, dpop: proof(both, { key: other }) }, { certificate: certA }))).toBe(
        'dpop_key_mismatch',
      );
      expect(await reasonOf(check({ authorization: `DPoP ${both}`, dpop: proof(both) }, { certificate: certB }))).toBe(
        'certificate_mismatch',
      );
    });

    it('refuses an unbound token of a provider with requireSenderConstraint, and takes a bound one', async () => {
      const unbound = await token({}, STRICT_ISSUER, strict);
      expect(await reasonOf(check({ authorization: `Bearer ${unbound}` }, { certificate: certA }))).toBe('sender_constraint_required');
      const bound = await token({ cnf: { 'x5t#S256': thumbprintOf(certA) } }, STRICT_ISSUER, strict);
      expect(await reasonOf(check({ authorization: `Bearer ${bound}` }, { certificate: certA }))).toBe('allowed');
    });
  });

  describe('DPoP (RFC 9449)', () => {
    it('allows a DPoP-bound token with a valid proof, and keeps the proof from the upstream', async () => {
      const bound = await dpopToken();
      const response = await withDpop(bound, proof(bound));
      expect(response.status?.code).toBe(0);
      expect(response.ok_response?.headers_to_remove).toEqual(expect.arrayContaining(['authorization', 'dpop']));
    });

    it('allows a proof made by the dpop client library', async () => {
      const keyPair = await dpopKeyPair('ES256');
      const publicJwk = (await crypto.subtle.exportKey('jwk', keyPair.publicKey)) as { kty: string; crv: string; x: string; y: string };
      const { kty, crv, x, y } = publicJwk;
      const bound = await dpopToken(sha256(JSON.stringify({ crv, kty, x, y })));
      const libraryProof = await generateProof(keyPair, HTU, 'GET', undefined, bound);
      expect(await reasonOf(withDpop(bound, libraryProof))).toBe('allowed');
    });

    it('refuses a replayed proof', async () => {
      const bound = await dpopToken();
      const once = proof(bound);
      expect(await reasonOf(withDpop(bound, once))).toBe('allowed');
      const response = await withDpop(bound, once);
      expect(deniedBody(response).reason).toBe('dpop_proof_replayed');
      expect(deniedHeader(response, 'www-authenticate')).toBe(
        'Bearer realm="tollgate", DPoP realm="tollgate", algs="ES256 EdDSA PS256 RS256", error="invalid_dpop_proof", ' +
          'error_description="the DPoP proof has been used before"',
      );
    });

    it('refuses proofs that do not describe this request, this token or this moment', async () => {
      const bound = await dpopToken();
      const attacks: Record<string, string> = {
        'wrong htu': proof(bound, { claims: { htu: `https://${HOST}/api/other` } }),
        'wrong htu host': proof(bound, { claims: { htu: `https://evil.example.com${PATH}` } }),
        'http instead of https': proof(bound, { claims: { htu: `http://${HOST}${PATH}` } }),
        'wrong htm': proof(bound, { claims: { htm: 'POST' } }),
        'wrong ath': proof(bound, { claims: { ath: sha256('another token') } }),
        'no ath': proof(bound, { claims: { ath: undefined } }),
        'old iat': proof(bound, { claims: { iat: now() - 60 - 30 - 1 } }),
        'iat in the future': proof(bound, { claims: { iat: now() + 30 + 1 } }),
        'no jti': proof(bound, { claims: { jti: undefined } }),
        'typ JWT': proof(bound, { header: { typ: 'JWT' } }),
        'no typ': proof(bound, { header: { typ: undefined } }),
        'alg none': `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: client.jwk })}.${b64({ jti: 'n', htm: 'GET', htu: HTU, iat: now(), ath: sha256(bound) })}.`,
        'alg none, signed': proof(bound, { header: { alg: 'none' } }),
        'private key in the header jwk': proof(bound, {
          header: { jwk: { ...client.jwk, d: (client.privateKey.export({ format: 'jwk' }) as { d: string }).d } },
        }),
        'no jwk': proof(bound, { header: { jwk: undefined } }),
        'crit extension': proof(bound, { header: { crit: ['exp'], exp: 1 } }),
        'bad signature': proof(bound).slice(0, -4) + 'AAAA',
      };
      const hmacInput = `${b64({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } })}.${b64({ jti: 'h', htm: 'GET', htu: HTU, iat: now(), ath: sha256(bound) })}`;
      attacks.HS256 = `${hmacInput}.${createHash('sha256').update(hmacInput).digest('base64url')}`;
      for (const [name, attack] of Object.entries(attacks)) {
        expect(await reasonOf(withDpop(bound, attack)), name).toBe('invalid_dpop_proof');
      }
    });

    it('compares htu with the request URI without its query, over http as over https, and with no other scheme', async () => {
      const bound = await dpopToken();
      const withQuery = check({ authorization: `DPoP ${bound}`, dpop: proof(bound) }, { path: `${PATH}?page=2#top` });
      expect(await reasonOf(withQuery)).toBe('allowed');
      const withScheme = (scheme: string) => {
        const request = checkRequest({
          host: HOST,
          path: PATH,
          headers: { authorization: `DPoP ${bound}`, dpop: proof(bound, { claims: { htu: `${scheme}://${HOST}${PATH}` } }) },
        });
        request.attributes!.request!.http!.scheme = scheme;
        return reasonOf(tg.client.check(request));
      };
      expect(await withScheme('http')).toBe('allowed');
      expect(await withScheme('ftp')).toBe('invalid_dpop_proof');
    });

    it('refuses no proof, and two proofs (as two headers or joined)', async () => {
      const bound = await dpopToken();
      expect(await reasonOf(check({ authorization: `DPoP ${bound}` }))).toBe('invalid_dpop_proof');
      expect(await reasonOf(withDpop(bound, `${proof(bound)},${proof(bound)}`))).toBe('invalid_dpop_proof');
      const raw = await tg.client.check(
        checkRequest({
          host: HOST,
          path: PATH,
          rawHeaders: [
            ['authorization', `DPoP ${bound}`],
            ['dpop', proof(bound)],
            ['dpop', proof(bound)],
          ],
        }),
      );
      expect(deniedBody(raw).reason).toBe('invalid_dpop_proof');
    });

    it('refuses a proof by a key other than the one the token is bound to, and an unbound token under the DPoP scheme', async () => {
      const bound = await dpopToken();
      expect(await reasonOf(withDpop(bound, proof(bound, { key: other })))).toBe('dpop_key_mismatch');
      const unbound = await token({});
      expect(await reasonOf(withDpop(unbound, proof(unbound)))).toBe('dpop_key_mismatch');
    });

    it('refuses a DPoP-bound token sent as Bearer, with or without a proof', async () => {
      const bound = await dpopToken();
      const response = await check({ authorization: `Bearer ${bound}` });
      expect(deniedBody(response).reason).toBe('dpop_required');
      expect(deniedHeader(response, 'www-authenticate')).toContain(
        'DPoP realm="tollgate", algs="ES256 EdDSA PS256 RS256", error="invalid_token"',
      );
      expect(await reasonOf(check({ authorization: `Bearer ${bound}`, dpop: proof(bound) }))).toBe('dpop_required');
    });

    it("refuses a proof whose algorithm is outside the provider's dpop.algorithms", async () => {
      const bound = await token({ cnf: { jkt: client.jkt } }, STRICT_ISSUER, strict);
      expect(await reasonOf(withDpop(bound, proof(bound)))).toBe('invalid_dpop_proof');
    });

    it('still takes unbound Bearer tokens of the provider (dpop.required is off)', async () => {
      expect(await reasonOf(check({ authorization: `Bearer ${await token({})}` }))).toBe('allowed');
    });
  });

  it('counts every binding check by kind and result', async () => {
    const count = async (kind: string, result: string) => {
      const text = await (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
      const line = new RegExp(`^tollgate_binding_checks_total\\{kind="${kind}",result="${result}"\\} (\\d+)$`, 'm');
      return Number(line.exec(text)?.[1] ?? 0);
    };
    const cases: [string, string, () => Promise<unknown>][] = [
      [
        'certificate',
        'ok',
        async () => check({ authorization: `Bearer ${await token({ cnf: { 'x5t#S256': thumbprintOf(certA) } })}` }, { certificate: certA }),
      ],
      [
        'certificate',
        'certificate_mismatch',
        async () => check({ authorization: `Bearer ${await token({ cnf: { 'x5t#S256': thumbprintOf(certA) } })}` }),
      ],
      ['cnf', 'unsupported_confirmation', async () => check({ authorization: `Bearer ${await token({ cnf: {} })}` })],
      ['cnf', 'sender_constraint_required', async () => check({ authorization: `Bearer ${await token({}, STRICT_ISSUER, strict)}` })],
      [
        'dpop',
        'ok',
        async () => {
          const bound = await dpopToken();
          return withDpop(bound, proof(bound));
        },
      ],
      ['dpop', 'dpop_required', async () => check({ authorization: `Bearer ${await dpopToken()}` })],
    ];
    for (const [kind, result, send] of cases) {
      const before = await count(kind, result);
      await send();
      expect(await count(kind, result), `${kind} ${result}`).toBe(before + 1);
    }
  });

  describe('on the HTTP authorization port', () => {
    const original = { host: HOST, path: PATH };

    it("takes htu's scheme from X-Forwarded-Proto (Traefik sets it), and refuses a proof where the proxy clears it (ingress-nginx)", async () => {
      const bound = await dpopToken();
      const headers = (dpop: string) => ({ authorization: `DPoP ${bound}`, dpop });
      expect((await askAuthz(tg.app.authzPort, 'traefik', { ...original, headers: headers(proof(bound)) })).status).toBe(200);
      // Envoy's http_service: the method is the request's own (htm compared exactly), the scheme X-Forwarded-Proto's.
      const envoy = { ...original, headers: { ...headers(proof(bound)), 'x-forwarded-proto': 'https' } };
      expect((await askAuthz(tg.app.authzPort, 'envoy', envoy)).status).toBe(200);
      const refused = await askAuthz(tg.app.authzPort, 'ingress-nginx', { ...original, headers: headers(proof(bound)) });
      expect([refused.status, JSON.parse(refused.body).reason]).toEqual([401, 'invalid_dpop_proof']);
    });

    it("checks a certificate-bound token against X-Forwarded-Client-Cert's Cert=", async () => {
      const bound = await token({ cnf: { 'x5t#S256': thumbprintOf(certA) } });
      const ask = (cert: string) =>
        askAuthz(tg.app.authzPort, 'envoy', {
          ...original,
          headers: { authorization: `Bearer ${bound}`, 'x-forwarded-client-cert': `Cert="${cert}"` },
        });
      expect((await ask(certA)).status).toBe(200);
      expect(JSON.parse((await ask(certB)).body).reason).toBe('certificate_mismatch');
    });
  });
});
