/**
 * tollgate verifies JWS signatures with node:crypto and checks claims itself (src/keys/signature.ts,
 * src/pipeline/claims.ts) because jose's WebCrypto path costs more CPU per check. jose stays the
 * reference: here both decide the same generated tokens (right and wrong keys, flipped and truncated
 * signatures, cross-algorithm signatures, crit/b64 headers, typ spellings, audiences of every shape,
 * time claims on and around every boundary, claims of the wrong type) and must agree on the decision,
 * the denial reason and the claims. The keys come from a JWKS file through a real key manager.
 *
 * The run is reproducible: a fixed seed, logged. Outside CI, explore further with another seed and
 * more runs: `TOLLGATE_PARITY_SEED=random TOLLGATE_PARITY_RUNS=100000 npx vitest run test/pipeline/jose-parity.test.ts`.
 */
import { constants, createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, UnsecuredJWT, type JWSHeaderParameters, type JWTPayload } from 'jose';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerSchema, type ProviderConfig } from '../../src/config/providers.js';
import { createKeyManager, KeyError, jwksConfigSchema, type KeyManager } from '../../src/keys/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { tokenLocations, type TokenLocation } from '../../src/pipeline/extract.js';
import type { TokenFailure } from '../../src/reasons.js';
import { TokenVerifier, type ProviderRuntime } from '../../src/pipeline/verify.js';
import { buildProviderRuntime } from '../../src/server/runtime.js';
import { ManualClock } from '../../src/util/clock.js';

const NOW = 1_800_000_000; // seconds; the clock sits mid-second, as a real one does
const RUNS = Number(process.env.TOLLGATE_PARITY_RUNS ?? 2000);
const SEED = process.env.TOLLGATE_PARITY_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.TOLLGATE_PARITY_SEED ?? 20_261_129);

interface Signer {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const ec = (namedCurve: string, kid: string): Signer => ({ kid, ...generateKeyPairSync('ec', { namedCurve }) });
const rsaKey = { kid: 'rsa', ...generateKeyPairSync('rsa', { modulusLength: 2048 }) };
/** The keys the JWKS publishes. RS256 and PS256 share one RSA key (no `alg` pinned), as IdPs do. */
const PUBLISHED: Record<string, Signer> = {
  ES256: ec('prime256v1', 'ec256'),
  ES512: ec('secp521r1', 'ec521'),
  RS256: rsaKey,
  PS256: rsaKey,
  EdDSA: { kid: 'ed', ...generateKeyPairSync('ed25519') },
};
/** Same types, never published: their signatures must not verify. */
const IMPOSTORS: Record<string, Signer> = {
  ES256: ec('prime256v1', 'ec256'),
  ES512: ec('secp521r1', 'ec521'),
  RS256: { kid: 'rsa', ...generateKeyPairSync('rsa', { modulusLength: 2048 }) },
  PS256: { kid: 'rsa', ...generateKeyPairSync('rsa', { modulusLength: 2048 }) },
  EdDSA: { kid: 'ed', ...generateKeyPairSync('ed25519') },
};
/** Text, so it travels through the secret file the provider reads like any configured secret. */
const HMAC_SECRET = Buffer.from(randomBytes(32).toString('hex'));
const ISSUERS = ['https://a.example', 'https://b.example'];
const ALLOWED = ['ES256', 'ES512', 'RS256', 'PS256', 'EdDSA', 'HS256'];

/** Signs as each algorithm's spec says; a mistake here would show as a disagreement with jose. */
function signature(alg: string, signer: Signer | 'hmac' | 'wrong-hmac', input: Buffer): Buffer {
  if (signer === 'hmac' || signer === 'wrong-hmac')
    return createHmac('sha256', signer === 'hmac' ? HMAC_SECRET : randomBytes(32))
      .update(input)
      .digest();
  const key = signer.privateKey;
  switch (alg) {
    case 'PS256':
      return sign('sha256', input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ES256':
      return sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });
    case 'ES512':
      return sign('sha512', input, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
      return sign(null, input, key);
    default:
      return sign('sha256', input, key); // RS256 (and any other header alg: a PKCS#1 v1.5 signature)
  }
}

interface Case {
  provider: number;
  header: { alg: string; kid: string | number | undefined; typ: unknown; crit: unknown; b64: unknown };
  claims: Record<string, unknown>;
  signedWith: 'published' | 'impostor' | 'other-algorithm';
  damage: 'none' | 'flip' | 'truncate' | 'extend';
}

/** Mostly the valid value, sometimes one of the others: most tokens then differ from a good one in a field or two. */
const usually = <T>(valid: T, ...others: T[]) =>
  fc.oneof({ weight: 10, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: fc.constantFrom(...others) });

const caseArb: fc.Arbitrary<Case> = fc.record({
  provider: fc.constantFrom(0, 1),
  header: fc.record({
    alg: fc.constantFrom('ES256', 'ES512', 'RS256', 'PS256', 'EdDSA', 'HS256', 'ES256', 'RS256', 'none', 'RS512', 'ES384'),
    kid: usually<string | number | undefined>('right', undefined, 'nope', 'ec256', 'rsa', 'ed', 7),
    typ: usually<unknown>('at+jwt', undefined, 'JWT', 'application/at+JWT', 'AT+JWT', 'application/jwt', 5),
    crit: usually<unknown>(undefined, ['b64'], ['b64', 'b64'], [], ['exp'], 'b64', [''], ['b64', 'exp']),
    b64: usually<unknown>(undefined, true, false, 'true'),
  }),
  claims: fc.record({
    iss: usually('own', 'other provider', 'https://unknown.example'),
    aud: usually<unknown>('api', undefined, ['x', 'api'], 'web', 'x', [], ['x'], 5, ['api', 5], null),
    sub: usually<unknown>('user-1', undefined, 42, '', '67890'),
    exp: usually<unknown>(NOW + 300, undefined, NOW - 29, NOW - 30, NOW - 31, NOW, NOW + 1, '1800000300', null, NOW + 0.5),
    nbf: usually<unknown>(NOW - 10, undefined, NOW + 29, NOW + 30, NOW + 31, NOW + 1, 'soon'),
    iat: usually<unknown>(NOW, undefined, NOW - 600, NOW - 630, NOW - 631, NOW - 601, NOW + 1, NOW + 30, NOW + 31, 'then', NOW - 0.5),
    scope: fc.constantFrom<unknown>(undefined, 'read write', { nested: [1, 2, 3] }),
  }),
  signedWith: usually<Case['signedWith']>('published', 'impostor', 'other-algorithm'),
  damage: usually<Case['damage']>('none', 'flip', 'truncate', 'extend'),
});

/** A token both providers accept, changed in the named fields. */
const variant = (provider: number, header: Partial<Case['header']>, claims: Partial<Case['claims']>): Case => ({
  provider,
  header: { alg: 'ES256', kid: 'right', typ: 'at+jwt', crit: undefined, b64: undefined, ...header },
  claims: { iss: 'own', aud: 'api', sub: 'user-1', exp: NOW + 300, nbf: NOW - 10, iat: NOW, scope: undefined, ...claims },
  signedWith: 'published',
  damage: 'none',
});

/** Run on every run, whatever the seed: cases too rare for the generator to reach reliably. */
const EXAMPLES: Case[] = [
  variant(0, { crit: ['b64', 'exp'], b64: true }, {}), // every crit name must be understood
  variant(1, {}, { aud: undefined, sub: undefined }), // several required claims missing: jose names the last listed
  variant(1, {}, { iat: null }), // null would count as 0 in arithmetic: too old, instead of not a number
  variant(1, {}, { iat: String(NOW - 700) }), // a numeric string is not a NumericDate
  variant(0, {}, { nbf: String(NOW + 3600) }),
];

function tokenOf(c: Case): string {
  const signerAlg = PUBLISHED[c.header.alg] || c.header.alg === 'HS256' ? c.header.alg : 'RS256';
  const kid = c.header.kid === 'right' ? (PUBLISHED[signerAlg]?.kid ?? 'hmac') : c.header.kid;
  const header = { ...c.header, kid };
  const issuers = [ISSUERS[c.provider], ISSUERS[1 - c.provider]];
  const claims = { ...c.claims, iss: c.claims.iss === 'own' ? issuers[0] : c.claims.iss === 'other provider' ? issuers[1] : c.claims.iss };
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  let sig: Buffer;
  if (c.signedWith === 'other-algorithm') {
    sig = signature(
      signerAlg === 'ES256' ? 'RS256' : 'ES256',
      signerAlg === 'ES256' ? PUBLISHED.RS256! : PUBLISHED.ES256!,
      Buffer.from(input),
    );
  } else if (signerAlg === 'HS256') {
    sig = signature('HS256', c.signedWith === 'published' ? 'hmac' : 'wrong-hmac', Buffer.from(input));
  } else {
    sig = signature(signerAlg, (c.signedWith === 'published' ? PUBLISHED : IMPOSTORS)[signerAlg]!, Buffer.from(input));
  }
  if (c.damage === 'flip') sig.writeUInt8(sig.readUInt8(sig.length >> 1) ^ 0x01, sig.length >> 1);
  if (c.damage === 'truncate') sig = sig.subarray(0, sig.length - 1);
  if (c.damage === 'extend') sig = Buffer.concat([sig, Buffer.from([0])]);
  return `${input}.${sig.toString('base64url')}`;
}

type Outcome = { ok: true; claims: unknown } | { ok: false; reason: TokenFailure };

/**
 * The reference: jose alone decides every question; no tollgate code runs in it. What it takes from
 * tollgate is the order of the questions, since a token that fails two checks is denied for whichever is
 * asked first. tollgate asks the cheap ones before it looks up a key: the provider (chosen by `iss`),
 * the alg allow-list, the `kid` type, then the time claims that are numbers (so a replayed expired token
 * costs no signature check), then `crit`. jose answers the time question on those claims alone.
 *
 * The intended differences in what is decided: jose verifies a `b64: false` signature over the raw
 * payload and only then refuses the JWT; tollgate refuses it before looking for a key. Both deny it.
 * And a token jose accepts whose `sub`, `jti` or `sid` is not a non-empty string is refused by
 * tollgate (`invalid_claims`, asked last): a revocation could never name it
 * (docs/design-decisions.md).
 */
async function joseOutcome(token: string, provider: ProviderRuntime, nowMs: number): Promise<Outcome> {
  const cfg = provider.config;
  let header: JWSHeaderParameters;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch {
    return { ok: false, reason: 'malformed_token' };
  }
  if (payload.iss !== cfg.issuer) return { ok: false, reason: 'unknown_issuer' };
  if (typeof header.alg !== 'string' || !(cfg.algorithms as string[]).includes(header.alg))
    return { ok: false, reason: 'unsupported_algorithm' };
  if (header.kid !== undefined && typeof header.kid !== 'string') return { ok: false, reason: 'malformed_token' };
  const early = joseTimeFailure(payload, cfg, nowMs);
  if (early) return { ok: false, reason: early };
  if (Array.isArray(header.crit) && header.crit.includes('b64') && header.b64 === false) return { ok: false, reason: 'malformed_token' };
  try {
    const { payload: claims } = await jwtVerify(
      token,
      async (h: JWSHeaderParameters) => {
        if (h.alg === 'HS256') return HMAC_SECRET;
        return (await provider.keys!.getKey({ alg: h.alg!, kid: h.kid })).key;
      },
      {
        issuer: cfg.issuer,
        audience: cfg.audiences,
        algorithms: cfg.algorithms,
        clockTolerance: cfg.clockSkewSeconds,
        currentDate: new Date(nowMs),
        maxTokenAge: cfg.maxTokenAgeSeconds,
        requiredClaims: cfg.requiredClaims,
        typ: cfg.typ,
      },
    );
    const unnameable = (['sub', 'jti', 'sid'] as const).some(
      (c) => claims[c] !== undefined && (typeof claims[c] !== 'string' || claims[c] === '' || claims[c].length > 1024),
    );
    return unnameable ? { ok: false, reason: 'invalid_claims' } : { ok: true, claims };
  } catch (err) {
    return { ok: false, reason: reasonOf(err) };
  }
}

/**
 * jose's verdict on the numeric `nbf`, `exp` and `iat` alone (an unsecured JWT carrying only them), with
 * the provider's skew and maximum age: expired, not yet valid or too old, if it says so. Anything else
 * about these claims (a wrong type, an `iat` in the future) is left to the full check after the signature.
 */
function joseTimeFailure(payload: JWTPayload, cfg: ProviderConfig, nowMs: number): TokenFailure | undefined {
  const timeClaims = Object.fromEntries(
    (['nbf', 'exp', 'iat'] as const).filter((c) => typeof payload[c] === 'number').map((c) => [c, payload[c]]),
  );
  const unsecured = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(timeClaims)).toString('base64url')}.`;
  try {
    UnsecuredJWT.decode(unsecured, {
      currentDate: new Date(nowMs),
      clockTolerance: cfg.clockSkewSeconds,
      maxTokenAge: timeClaims.iat === undefined ? undefined : cfg.maxTokenAgeSeconds,
    });
    return undefined;
  } catch (err) {
    const reason = reasonOf(err);
    return reason === 'expired' || reason === 'not_yet_valid' || reason === 'token_too_old' ? reason : undefined;
  }
}

function reasonOf(err: unknown): TokenFailure {
  if (err instanceof KeyError)
    return err.code === 'keys_unavailable' ? 'keys_unavailable' : err.code === 'alg_mismatch' ? 'unsupported_algorithm' : 'unknown_key';
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? 'token_too_old' : 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'invalid') return 'invalid_claims';
    if (err.reason === 'missing') return err.claim === 'aud' ? 'invalid_audience' : 'invalid_claims';
    return (
      ({ nbf: 'not_yet_valid', aud: 'invalid_audience', typ: 'invalid_type' } as Record<string, TokenFailure>)[err.claim] ??
      'invalid_claims'
    );
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'invalid_signature';
  return 'malformed_token'; // JWSInvalid, JWTInvalid, JOSENotSupported (crit, b64)
}

describe('signature and claims checks agree with jose.jwtVerify', () => {
  let dir: string;
  const managers: KeyManager[] = [];
  const providers: ProviderRuntime[] = [];
  const verifiers: TokenVerifier[] = [];
  const clock = new ManualClock(NOW * 1000 + 500);
  let location: TokenLocation;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-parity-'));
    const keys = [...new Set(Object.values(PUBLISHED))].map((s) => ({ ...s.publicKey.export({ format: 'jwk' }), kid: s.kid, use: 'sig' }));
    writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys }));
    writeFileSync(path.join(dir, 'hmac-secret'), HMAC_SECRET);
    const configs: ProviderConfig[] = [
      providerSchema.parse({
        name: 'a',
        issuer: ISSUERS[0],
        audiences: ['api'],
        algorithms: ALLOWED,
        jwks: { file: path.join(dir, 'jwks.json') },
        hmacSecret: { file: path.join(dir, 'hmac-secret') },
      }),
      providerSchema.parse({
        name: 'b',
        issuer: ISSUERS[1],
        audiences: ['api', 'web'],
        algorithms: ALLOWED,
        jwks: { file: path.join(dir, 'jwks.json') },
        hmacSecret: { file: path.join(dir, 'hmac-secret') },
        requiredClaims: ['exp', 'sub', 'nbf'],
        maxTokenAgeSeconds: 600,
        typ: 'at+jwt',
        clockSkewSeconds: 0,
      }),
    ];
    location = tokenLocations(configs)[0]!;
    for (const [index, config] of configs.entries()) {
      const manager = createKeyManager(
        { name: config.name, issuer: config.issuer ?? '', algorithms: config.algorithms ?? [], jwks: jwksConfigSchema.parse(config.jwks) },
        { logger: silentLogger(), registry: new Registry(), clock: new ManualClock(NOW * 1000) },
      );
      await manager.start();
      managers.push(manager);
      const provider = buildProviderRuntime(config, index, manager);
      providers.push(provider);
      verifiers.push(new TokenVerifier([provider], { maxTokenBytes: 8192, clock, cacheEntries: 0 }));
    }
  });

  afterAll(() => {
    managers.forEach((m) => m.stop());
    rmSync(dir, { recursive: true, force: true });
  });

  it(`the same decision, reason and claims for ${RUNS} generated tokens`, { timeout: 30_000 + RUNS * 20 }, async () => {
    console.log(`jose parity: seed ${SEED}, ${RUNS} runs (reproduce with TOLLGATE_PARITY_SEED=${SEED} TOLLGATE_PARITY_RUNS=${RUNS})`);
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const token = tokenOf(c);
        const provider = providers[c.provider]!;
        const expected = await joseOutcome(token, provider, clock.now());
        const result = await verifiers[c.provider]!.verify(token, location);
        const actual: Outcome = result.ok ? { ok: true, claims: result.token.claims } : { ok: false, reason: result.reason };
        expect(actual).toEqual(expected);
        const label = expected.ok ? 'accepted' : expected.reason;
        seen.set(label, (seen.get(label) ?? 0) + 1);
      }),
      { numRuns: RUNS, seed: SEED, examples: EXAMPLES.map((c): [Case] => [c]) },
    );
    // The generator must reach acceptance and the interesting denials, or agreeing proves little.
    expect(seen.get('accepted') ?? 0).toBeGreaterThan(RUNS / 50);
    for (const reason of [
      'invalid_signature',
      'malformed_token',
      'invalid_audience',
      'invalid_claims',
      'expired',
      'not_yet_valid',
      'invalid_type',
      'unsupported_algorithm',
      'unknown_key',
      'token_too_old',
    ]) {
      expect(seen.get(reason) ?? 0, `${reason} never generated: ${JSON.stringify(Object.fromEntries(seen))}`).toBeGreaterThan(0);
    }
  });

  // The generator above builds its JSON with JSON.stringify, which can write neither of these.
  it('differs from jose on purpose: a header naming a parameter twice, and a time claim that is not finite', async () => {
    const hmacToken = (header: string, payload: string) => {
      const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
      return `${input}.${signature('HS256', 'hmac', Buffer.from(input)).toString('base64url')}`;
    };
    const claims = `"iss":"${ISSUERS[0]}","aud":"api","sub":"u","iat":${NOW}`;
    const cases: Array<[string, string, TokenFailure]> = [
      // JSON.parse keeps the last `alg`; a parser keeping the first would read "none".
      [`{"alg":"none","alg":"HS256"}`, `{${claims},"exp":${NOW + 300}}`, 'malformed_token'],
      // 1e400 parses as Infinity: a token that never expires.
      ['{"alg":"HS256"}', `{${claims},"exp":1e400}`, 'invalid_claims'],
      ['{"alg":"HS256"}', `{${claims},"exp":${NOW + 300},"nbf":-1e400}`, 'invalid_claims'],
    ];
    for (const [header, payload, reason] of cases) {
      const token = hmacToken(header, payload);
      const jose = await jwtVerify(token, HMAC_SECRET, {
        issuer: ISSUERS[0],
        audience: 'api',
        algorithms: ['HS256'],
        currentDate: new Date(clock.now()),
      });
      expect(jose.payload.sub, header + payload).toBe('u');
      const result = await verifiers[0]!.verify(token, location);
      expect(result.ok ? 'accepted' : result.reason, header + payload).toBe(reason);
    }
  });
});
