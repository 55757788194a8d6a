import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { SigningAlgorithm } from './schema.js';

export interface RotateOptions {
  algorithm: SigningAlgorithm;
  publishAheadSeconds: number;
  /** The longest a minted token lives (internalTokens.ttlSeconds; 900 is the most it can be). */
  ttlSeconds: number;
  nowSeconds: number;
}

/** Slack for clocks between replicas and verifiers when deciding a key can no longer verify anything. */
const PRUNE_SKEW_SECONDS = 60;

/**
 * `tollgate keys rotate --dir DIR`: adds a new private JWK (`created` = now, kid = RFC 7638
 * thumbprint) and removes keys no live token can need. A key signs from its successor's `created +
 * publishAheadSeconds` no more, so once that moment plus the longest token lifetime (and clock skew)
 * has passed, nothing it signed is still valid and it can go.
 */
export async function rotateKeys(dir: string, options: RotateOptions): Promise<{ added: string; pruned: string[]; first: boolean }> {
  const existing = readdirSync(dir)
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .map((file) => {
      const jwk = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { kid?: string; created?: unknown };
      return { file, kid: jwk.kid ?? file, created: typeof jwk.created === 'number' ? jwk.created : 0 };
    });
  const { privateKey } = await generateKeyPair(options.algorithm, {
    extractable: true,
    ...(options.algorithm === 'RS256' ? { modulusLength: 2048 } : {}),
  });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  writeFileSync(
    join(dir, `${kid}.json`),
    `${JSON.stringify({ ...jwk, kid, alg: options.algorithm, use: 'sig', created: options.nowSeconds }, null, 2)}\n`,
    { mode: 0o600 },
  );

  const all = [...existing, { file: `${kid}.json`, kid, created: options.nowSeconds }].sort((a, b) => a.created - b.created);
  const pruned: string[] = [];
  all.forEach((key, i) => {
    const successor = all[i + 1];
    if (!successor) return;
    const retiredAt = successor.created + options.publishAheadSeconds;
    if (retiredAt + options.ttlSeconds + PRUNE_SKEW_SECONDS <= options.nowSeconds) {
      rmSync(join(dir, key.file));
      pruned.push(key.kid);
    }
  });
  // With no other key to sign meanwhile, the oldest key signs: a first key signs at once.
  return { added: kid, pruned, first: existing.length === 0 };
}
