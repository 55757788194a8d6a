/**
 * Cheap, strict checks before jose sees a token whose size the caller already bounded: the exact
 * compact-JWS shape (three base64url segments, no padding, no whitespace: a JWE has five), and header
 * and payload that are JSON objects of bounded depth. They refuse hostile input early and let tollgate read `iss` to choose a
 * provider. Nothing read here is trusted until the signature is verified.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_JSON_DEPTH = 16;

export interface DecodedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

export type PrecheckResult = { ok: true; decoded: DecodedJws } | { ok: false; reason: 'malformed_token' };

export function precheckJws(token: string): PrecheckResult {
  if (!COMPACT_JWS.test(token)) return { ok: false, reason: 'malformed_token' };
  const [h, p] = token.split('.', 2) as [string, string];
  const header = decodeSegment(h);
  const payload = decodeSegment(p);
  if (!header || !payload) return { ok: false, reason: 'malformed_token' };
  return { ok: true, decoded: { header, payload } };
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  // A base64url segment of length 4n+1 cannot come from whole bytes: reject rather than let it truncate.
  if (segment.length % 4 === 1) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isPlainObject(value) || depth(value, 0) > MAX_JSON_DEPTH) return undefined;
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function depth(value: unknown, level: number): number {
  if (level > MAX_JSON_DEPTH || typeof value !== 'object' || value === null) return level;
  let max = level;
  for (const child of Object.values(value)) {
    max = Math.max(max, depth(child, level + 1));
    if (max > MAX_JSON_DEPTH) break;
  }
  return max;
}
