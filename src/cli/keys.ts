import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { rotateKeys } from '../internal-tokens/rotate.js';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../internal-tokens/schema.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';

const USAGE = 'usage: tollgate keys generate --alg ES256 --out DIR | tollgate keys rotate --dir DIR [--alg ES256] [--publish-ahead-seconds 300] [--ttl-seconds 900]';

const GENERATABLE = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;

/**
 * `tollgate keys generate --alg ES256 --out DIR`: a signing key for local testing. Writes
 * DIR/private.jwk.json (mode 0600, for `tollgate token mint`) and DIR/jwks.json (the public key set a
 * provider's `jwks.file` points at). The key id is the key's RFC 7638 thumbprint.
 */
export async function runKeys(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      alg: { type: 'string', default: 'ES256' },
      out: { type: 'string' },
      dir: { type: 'string' },
      'publish-ahead-seconds': { type: 'string', default: '300' },
      'ttl-seconds': { type: 'string', default: '900' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals[0] === 'rotate' && positionals.length === 1) return rotate(values, io);
  if (positionals[0] !== 'generate' || positionals.length !== 1) throw new UsageError(USAGE);
  const alg = values.alg;
  if (!(GENERATABLE as readonly string[]).includes(alg)) throw new UsageError(`--alg: one of ${GENERATABLE.join(', ')}`);
  if (!values.out) throw new UsageError('--out: the directory to write private.jwk.json and jwks.json into');

  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {}) });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'private.jwk.json'), `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600 });
  writeFileSync(join(values.out, 'jwks.json'), `${JSON.stringify({ keys: [{ ...publicJwk, kid, alg, use: 'sig' }] }, null, 2)}\n`);
  io.stdout(`wrote ${join(values.out, 'private.jwk.json')} (keep it secret) and ${join(values.out, 'jwks.json')} (kid ${kid})`);
  return EXIT_OK;
}

/**
 * `tollgate keys rotate --dir DIR`: the internalTokens signing-key directory gets a new key, and keys
 * no live token can need are pruned (see rotateKeys). Apply the directory as the Secret afterwards.
 */
async function rotate(values: { alg?: string; dir?: string; 'publish-ahead-seconds'?: string; 'ttl-seconds'?: string }, io: CliIo): Promise<number> {
  if (!values.dir) throw new UsageError('--dir: the internalTokens.keysDir directory');
  const alg = values.alg ?? 'ES256';
  if (!(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) throw new UsageError(`--alg: one of ${SIGNING_ALGORITHMS.join(', ')}`);
  const publishAheadSeconds = wholeSeconds(values['publish-ahead-seconds'], '--publish-ahead-seconds');
  const ttlSeconds = wholeSeconds(values['ttl-seconds'], '--ttl-seconds');
  const { added, pruned } = await rotateKeys(values.dir, { algorithm: alg as SigningAlgorithm, publishAheadSeconds, ttlSeconds, nowSeconds: Math.floor(Date.now() / 1000) });
  io.stdout(`added ${added}; signs after ${publishAheadSeconds}s of publication${pruned.length > 0 ? `; pruned ${pruned.join(', ')}` : ''}`);
  return EXIT_OK;
}

function wholeSeconds(text: string | undefined, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`${flag}: a whole number of seconds`);
  return value;
}
