import { hash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { stringify } from 'yaml';
import { rotateKeys } from '../internal-tokens/rotate.js';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../internal-tokens/schema.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';
import { claimsFromOptions } from './claims.js';

const GENERATABLE = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;

export const OPTIONS = {
  alg: { type: 'string', default: 'ES256' },
  out: { type: 'string' },
  force: { type: 'boolean', default: false },
  dir: { type: 'string' },
  'publish-ahead-seconds': { type: 'string', default: '300' },
  'ttl-seconds': { type: 'string', default: '900' },
  id: { type: 'string' },
  sub: { type: 'string' },
  claim: { type: 'string', multiple: true, default: [] as string[] },
} as const;

/** What makes a key recognisable (in a leaked-secret scan, in a support ticket) without revealing it. */
const API_KEY_PREFIX = 'tg_';
/** 32 bytes: 256 bits of entropy, far beyond guessing; base64url has no "." so a key never looks like a JWS. */
const API_KEY_BYTES = 32;

/**
 * `tollgate keys generate --alg ES256 --out DIR`: a signing key for local testing. Writes
 * DIR/private.jwk.json (mode 0600, for `tollgate token mint`) and DIR/jwks.json (the public key set a
 * provider's `jwks.file` points at). The key id is the key's RFC 7638 thumbprint.
 */
export async function runKeys(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  if (positionals[0] === 'rotate' && positionals.length === 1) return rotate(values, io);
  if (positionals[0] === 'api-key' && positionals.length === 1) return apiKey(values, io);
  if (positionals[0] !== 'generate' || positionals.length !== 1)
    throw new UsageError(
      'the subcommands are generate, rotate and api-key: tollgate keys generate --out DIR, tollgate keys rotate --dir DIR, tollgate keys api-key --id ID --sub SUBJECT',
    );
  const alg = values.alg;
  if (!(GENERATABLE as readonly string[]).includes(alg)) throw new UsageError(`--alg: one of ${GENERATABLE.join(', ')}`);
  if (!values.out) throw new UsageError('--out: the directory to write private.jwk.json and jwks.json into');
  const privatePath = join(values.out, 'private.jwk.json');
  const publicPath = join(values.out, 'jwks.json');
  const existing = [privatePath, publicPath].filter((path) => existsSync(path));
  if (existing.length > 0 && !values.force) {
    throw new UsageError(
      `${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}: overwriting loses the old private key and every token it signed stops verifying; add --force to do it anyway`,
    );
  }

  const { publicKey, privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {}),
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  mkdirSync(values.out, { recursive: true });
  // A file that exists keeps its mode on overwrite: make sure the private key ends up 0600.
  writeFileSync(privatePath, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600 });
  chmodSync(privatePath, 0o600);
  writeFileSync(publicPath, `${JSON.stringify({ keys: [{ ...publicJwk, kid, alg, use: 'sig' }] }, null, 2)}\n`);
  io.stdout(`wrote ${privatePath} (keep it secret) and ${publicPath} (kid ${kid})`);
  return EXIT_OK;
}

/**
 * `tollgate keys rotate --dir DIR`: the internalTokens signing-key directory gets a new key, and keys
 * no live token can need are pruned (see rotateKeys). Apply the directory as the Secret afterwards.
 */
async function rotate(
  values: { alg?: string; dir?: string; 'publish-ahead-seconds'?: string; 'ttl-seconds'?: string },
  io: CliIo,
): Promise<number> {
  if (!values.dir) throw new UsageError('--dir: the internalTokens.keysDir directory');
  const alg = values.alg ?? 'ES256';
  if (!(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) throw new UsageError(`--alg: one of ${SIGNING_ALGORITHMS.join(', ')}`);
  const publishAheadSeconds = wholeSeconds(values['publish-ahead-seconds'], '--publish-ahead-seconds');
  const ttlSeconds = wholeSeconds(values['ttl-seconds'], '--ttl-seconds');
  if (!isDirectory(values.dir))
    throw new UsageError(
      `--dir: ${values.dir} is not a directory; create it (mkdir -p ${values.dir}) for a first key, or give the directory internalTokens.keysDir names`,
    );
  const { added, pruned, first } = await rotateKeys(values.dir, {
    algorithm: alg as SigningAlgorithm,
    publishAheadSeconds,
    ttlSeconds,
    nowSeconds: Math.floor(Date.now() / 1000),
  });
  io.stdout(
    `added ${added}; ${first ? 'signs at once (no other key in the directory)' : `signs after ${publishAheadSeconds}s of publication`}${pruned.length > 0 ? `; pruned ${pruned.join(', ')}` : ''}`,
  );
  return EXIT_OK;
}

/**
 * `tollgate keys api-key --id ID --sub SUBJECT [--claim k=v]...`: a new random API key, printed once,
 * and the entry (its SHA-256, never the key) to add to a provider's `apiKeys.file`.
 */
function apiKey(values: { id?: string; sub?: string; claim: string[] }, io: CliIo): number {
  if (!values.id) throw new UsageError('--id: the name logs and metrics show for this key, e.g. acme-billing');
  if (!values.sub) throw new UsageError('--sub: the subject requests with this key act as');
  const claims = claimsFromOptions(values.claim, { sub: '--sub', jti: '--id (jti is the id)', exp: "the entry's expiresAt" });
  const key = `${API_KEY_PREFIX}${randomBytes(API_KEY_BYTES).toString('base64url')}`;
  const entry = { id: values.id, hash: `sha256:${hash('sha256', key, 'hex')}`, sub: values.sub, claims };
  io.stdout(`API key (shown once, store it now): ${key}`);
  io.stdout("entry for the provider's apiKeys.file (add expiresAt: <RFC 3339> to end it):");
  io.stdout(stringify([entry]).trimEnd());
  return EXIT_OK;
}

function wholeSeconds(text: string | undefined, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`${flag}: a whole number of seconds`);
  return value;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
