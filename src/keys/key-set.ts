import { createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { JwksSourceError } from './errors.js';
import { filterJwks, type DroppedJwk } from './jwk-filter.js';
import { keyFitsAlgorithm } from './signature.js';

export interface VerificationKey {
  /** Stable for a key across loads: kid plus RFC 7638 thumbprint, so a kid reused for new material differs. */
  id: string;
  key: KeyObject;
}

interface LoadedKey {
  kid?: string;
  /** The allowed algorithms this key verifies (the same key object for each). Empty when none fits. */
  byAlg: Map<string, VerificationKey>;
}

/** One immutable, fully imported key set: lookups never import or do I/O. */
export interface KeySet {
  /** The document it came from, so an identical refetch skips parsing and importing. */
  text: string;
  byKid: Map<string, LoadedKey>;
  /** For tokens without kid: every key that fits each algorithm. */
  byAlg: Map<string, VerificationKey[]>;
  /** Ids of usable keys (for isCurrent and change detection). */
  ids: Set<string>;
}

export async function buildKeySet(text: string, algorithms: readonly string[]): Promise<{ set: KeySet; dropped: DroppedJwk[] }> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new JwksSourceError('JWKS is not valid JSON');
  }
  const { accepted, dropped } = filterJwks(doc);
  const set: KeySet = { text, byKid: new Map(), byAlg: new Map(), ids: new Set() };
  for (const candidate of accepted) {
    // The provider's algorithms the JWK's own `alg` (if it pins one) permits; type, curve and size are
    // checked on the imported key.
    const algs = candidate.alg === undefined ? algorithms : algorithms.filter((alg) => alg === candidate.alg);
    const loaded: LoadedKey = { kid: candidate.kid, byAlg: new Map() };
    try {
      const thumbprint = await calculateJwkThumbprint(candidate.jwk, 'sha256');
      const id = candidate.kid === undefined ? thumbprint : `${candidate.kid}#${thumbprint}`;
      const key = createPublicKey({ key: candidate.jwk, format: 'jwk' });
      for (const alg of algs) if (keyFitsAlgorithm(alg, key)) loaded.byAlg.set(alg, { id, key });
    } catch {
      dropped.push({ kid: candidate.kid, reason: 'key material could not be imported' });
      continue;
    }
    // A kid whose key fits no allowed algorithm stays known, so its tokens get alg_mismatch, not a refetch.
    if (candidate.kid !== undefined) set.byKid.set(candidate.kid, loaded);
    if (loaded.byAlg.size === 0) {
      dropped.push({ kid: candidate.kid, reason: "fits none of the provider's algorithms" });
      continue;
    }
    for (const [alg, key] of loaded.byAlg) {
      set.ids.add(key.id);
      const list = set.byAlg.get(alg) ?? [];
      list.push(key);
      set.byAlg.set(alg, list);
    }
  }
  return { set, dropped };
}

/** The key for a token header; undefined when the kid is not in the set; 'alg_mismatch' when it is but does not fit. */
export function lookup(set: KeySet, alg: string, kid: string): VerificationKey | 'alg_mismatch' | undefined {
  const loaded = set.byKid.get(kid);
  if (!loaded) return undefined;
  return loaded.byAlg.get(alg) ?? 'alg_mismatch';
}
