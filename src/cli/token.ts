import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SignJWT, importJWK, type JWK, type JWTPayload } from 'jose';
import { parseRfc3339 } from '../admin/time.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';
import { claimsFromOptions } from './claims.js';

/** The embedded development config's issuer and audience, so a minted token works with `npm start`. */
export const DEV_ISSUER = 'https://dev.tollgate.invalid';
export const DEV_AUDIENCE = 'dev-api';

export const OPTIONS = {
  key: { type: 'string' },
  sub: { type: 'string' },
  'no-sub': { type: 'boolean', default: false },
  iss: { type: 'string', default: DEV_ISSUER },
  aud: { type: 'string', multiple: true },
  claim: { type: 'string', multiple: true, default: [] as string[] },
  ttl: { type: 'string' },
  exp: { type: 'string' },
  nbf: { type: 'string' },
  iat: { type: 'string' },
  kid: { type: 'string' },
  typ: { type: 'string' },
} as const;

/** Claims the command sets from its own options: a `--claim` for one of them would silently lose. */
const OPTION_CLAIMS: Record<string, string> = {
  iss: '--iss',
  sub: '--sub',
  aud: '--aud',
  exp: '--exp or --ttl',
  nbf: '--nbf',
  iat: '--iat',
  jti: '(always a fresh UUID)',
};
const TIME_OPTIONS = ['--exp', '--nbf', '--iat'];
const DEFAULT_TTL = '5m';
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * `tollgate token mint --key FILE --sub alice --claim k=v --ttl 5m`: signs a token for local testing.
 * A `--claim` value that parses as JSON is used as JSON (`--claim 'roles=["admin"]'`), else as a string.
 */
export async function runToken(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: withNegativeTimes(argv), options: OPTIONS, allowPositionals: true, strict: true });
  if (positionals[0] !== 'mint' || positionals.length !== 1)
    throw new UsageError('the only subcommand is mint: tollgate token mint --key FILE --sub SUBJECT');
  if (!values.key) throw new UsageError('--key: a private JWK file, e.g. private.jwk.json from `tollgate keys generate`');
  if (values.sub === undefined && !values['no-sub'])
    throw new UsageError('--sub SUBJECT is required (or --no-sub for a token without a subject)');
  if (values.sub !== undefined && values['no-sub']) throw new UsageError('give --sub or --no-sub, not both');
  if (values.ttl !== undefined && values.exp !== undefined) throw new UsageError('give --ttl or --exp, not both');
  const jwk = readPrivateJwk(values.key);

  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = claimsFromOptions(values.claim, OPTION_CLAIMS);
  const iat = values.iat === undefined ? now : time('--iat', values.iat, now);
  const payload: JWTPayload = {
    ...claims,
    iss: values.iss,
    ...(values.sub !== undefined ? { sub: values.sub } : {}),
    aud: values.aud ?? [DEV_AUDIENCE],
    iat,
    ...(values.nbf !== undefined ? { nbf: time('--nbf', values.nbf, now) } : {}),
    exp: values.exp !== undefined ? time('--exp', values.exp, now) : iat + duration(values.ttl ?? DEFAULT_TTL),
    jti: crypto.randomUUID(),
  };
  const jwt = new SignJWT(payload).setProtectedHeader({
    alg: jwk.alg!,
    kid: values.kid ?? jwk.kid,
    ...(values.typ ? { typ: values.typ } : {}),
  });
  io.stdout(await jwt.sign(await importJWK(jwk, jwk.alg)));
  return EXIT_OK;
}

/**
 * parseArgs reads `--exp -1m` as two options; a negative relative time is what an expired token
 * needs, so it is joined to its option (`--exp=-1m`) first.
 */
function withNegativeTimes(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (TIME_OPTIONS.includes(argv[i]!) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else {
      out.push(argv[i]!);
    }
  }
  return out;
}

/** A private JWK with an alg; a JWKS or a public key is named for what it is. */
function readPrivateJwk(path: string): JWK {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--key: cannot read a JWK from ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError(`--key: ${path} is not a JWK (a JSON object)`);
  if ('keys' in parsed) {
    throw new UsageError(
      `--key: ${path} is a JWKS, a set of PUBLIC keys (what a provider's jwks.file points at); minting needs the private key, e.g. private.jwk.json from tollgate keys generate`,
    );
  }
  const jwk = parsed as JWK;
  if (jwk.kty !== 'oct' && jwk.d === undefined) {
    throw new UsageError(
      `--key: ${path} holds a PUBLIC key (no "d"); minting needs the private key, e.g. private.jwk.json from tollgate keys generate`,
    );
  }
  if (!jwk.alg) throw new UsageError(`--key: ${path} has no "alg"; regenerate it with tollgate keys generate`);
  return jwk;
}

/** `90s`, `5m`, `2h`, `1d` → seconds. */
function duration(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!match) throw new UsageError(`--ttl ${JSON.stringify(text)}: use a number and a unit, e.g. 90s, 5m, 2h, 1d`);
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

/** Relative (`+10m`, `-1h`, `30s`), epoch seconds, or RFC 3339 → epoch seconds. */
function time(option: string, text: string, now: number): number {
  const relative = /^([+-]?)(\d+)(s|m|h|d)$/.exec(text);
  if (relative) return now + (relative[1] === '-' ? -1 : 1) * Number(relative[2]) * UNIT_SECONDS[relative[3]!]!;
  if (/^\d+$/.test(text)) return Number(text);
  const absolute = parseRfc3339(text);
  if (absolute !== undefined) return Math.floor(absolute);
  throw new UsageError(
    `${option} ${JSON.stringify(text)}: relative (+10m, -1h, 30s), epoch seconds (1767225600) or RFC 3339 (2026-01-01T00:00:00Z)`,
  );
}
