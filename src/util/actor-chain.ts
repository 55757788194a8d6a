/**
 * The RFC 8693 §4.1 `act` claim: who is acting on the subject's behalf, the current actor outermost
 * and earlier actors nested (`{ sub: B, act: { sub: A, act: { sub: gateway } } }`).
 */
export interface ActorClaim {
  sub: string;
  act?: ActorClaim;
}

/** Tokens minted or accepted by tollgate carry at most this many actors unless configured otherwise. */
export const DEFAULT_MAX_CHAIN_DEPTH = 4;

export type ChainRead = { ok: true; principals: string[] } | { ok: false; reason: 'malformed' | 'too_long' };

/**
 * The actors of an `act` claim, current first. A chain longer than `maxDepth`, or one with a level
 * that is not an object with a string `sub`, is refused: nothing reads past the bound.
 */
export function readActorChain(act: unknown, maxDepth: number): ChainRead {
  const principals: string[] = [];
  let level = act;
  while (level !== undefined) {
    if (principals.length === maxDepth) return { ok: false, reason: 'too_long' };
    if (typeof level !== 'object' || level === null || Array.isArray(level)) return { ok: false, reason: 'malformed' };
    const { sub, act: inner } = level as { sub?: unknown; act?: unknown };
    if (typeof sub !== 'string' || sub === '') return { ok: false, reason: 'malformed' };
    principals.push(sub);
    level = inner;
  }
  return { ok: true, principals };
}
