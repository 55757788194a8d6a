import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SignJWT, importJWK, type JWK } from 'jose';
import { EXIT_OK, UsageError, type CliIo } from './io.js';

/** The embedded development config's issuer and audience, so a minted token works with `npm start`. */
export const DEV_ISSUER = 'https://dev.tollgate.invalid';
export const DEV_AUDIENCE = 'dev-api';

/**
 * `tollgate token mint --key FILE --sub alice --claim k=v --ttl 5m`: signs a token for local testing.
 * A `--claim` value that parses as JSON is used as JSON (`--claim 'roles=["admin"]'`), else as a string.
 */
export async function runToken(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      key: { type: 'string' },
      sub: { type: 'string' },
      iss: { type: 'string', default: DEV_ISSUER },
      aud: { type: 'string', multiple: true },
      claim: { type: 'string', multiple: true, default: [] },
      ttl: { type: 'string', default: '5m' },
      kid: { type: 'string' },
      typ: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals[0] !== 'mint' || positionals.length !== 1) throw new UsageError('usage: tollgate token mint --key FILE --sub SUBJECT [--claim k=v ...] [--ttl 5m]');
  if (!values.key) throw new UsageError('--key: a private JWK file, e.g. from `tollgate keys generate`');
  const jwk = readJwk(values.key);
  if (!jwk.alg) throw new UsageError(`--key: ${values.key} has no "alg"; regenerate it with tollgate keys generate`);

  const claims: Record<string, unknown> = {};
  for (const pair of values.claim) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--claim ${JSON.stringify(pair)}: use name=value`);
    claims[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1));
  }
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: jwk.alg, kid: values.kid ?? jwk.kid, ...(values.typ ? { typ: values.typ } : {}) })
    .setIssuer(values.iss)
    .setAudience(values.aud ?? [DEV_AUDIENCE])
    .setIssuedAt()
    .setExpirationTime(ttl(values.ttl))
    .setJti(crypto.randomUUID());
  if (values.sub) jwt.setSubject(values.sub);
  io.stdout(await jwt.sign(await importJWK(jwk, jwk.alg)));
  return EXIT_OK;
}

function readJwk(path: string): JWK {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as JWK;
  } catch (err) {
    throw new UsageError(`--key: cannot read a JWK from ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `90s`, `5m`, `2h`, `1d` → a jose relative time; anything else is a usage error. */
function ttl(text: string): string {
  const match = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!match) throw new UsageError(`--ttl ${JSON.stringify(text)}: use a number and a unit, e.g. 90s, 5m, 2h, 1d`);
  return `${match[1]}${match[2]}`;
}
