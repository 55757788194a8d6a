import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { EXIT_OK, UsageError, type CliIo } from './io.js';

const GENERATABLE = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;

/**
 * `tollgate keys generate --alg ES256 --out DIR`: a signing key for local testing. Writes
 * DIR/private.jwk.json (mode 0600, for `tollgate token mint`) and DIR/jwks.json (the public key set a
 * provider's `jwks.file` points at). The key id is the key's RFC 7638 thumbprint.
 */
export async function runKeys(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { alg: { type: 'string', default: 'ES256' }, out: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals[0] !== 'generate' || positionals.length !== 1) throw new UsageError('usage: tollgate keys generate --alg ES256 --out DIR');
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
