import { hasDuplicateTopLevelKey } from './json-keys.js';

/**
 * Parses a compact JWS (RFC 7515 §7.1) whose size the caller already bounded, strictly: exactly three
 * base64url segments (no padding, no whitespace; a JWE has five), header and payload that are UTF-8
 * JSON objects of bounded depth, and a header that names no parameter twice. Nothing read here is trusted until the signature over `signingInput`
 * is verified; `iss` only chooses a provider.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_JSON_DEPTH = 16;
/** Invalid UTF-8 is malformed, not silently replaced (a replaced byte could make two tokens read alike). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export interface DecodedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** The bytes the signature covers: `header.payload`, exactly as sent. */
  signingInput: Buffer;
  signature: Buffer;
}

export type DecodeResult = { ok: true; jws: DecodedJws } | { ok: false; reason: 'malformed_token' };

const MALFORMED = { ok: false, reason: 'malformed_token' } as const;

/** Whether `token` has a compact JWS's shape: such a token is routed by its `iss`, never by where it came from. */
export function looksLikeJws(token: string): boolean {
  return COMPACT_JWS.test(token);
}

export function decodeJws(token: string): DecodeResult {
  const segments = splitJws(token);
  if (!segments) return MALFORMED;
  const header = decodeJwsHeader(segments.header);
  const payload = decodeJwsPayload(segments.payload);
  if (!header || !payload) return MALFORMED;
  return { ok: true, jws: { header, payload, signingInput: segments.signingInput, signature: segments.signature } };
}

/** A compact JWS cut into its segments, for a caller that reads (or remembers) its header itself. */
export interface JwsSegments {
  /** The header segment as sent (base64url). */
  header: string;
  payload: string;
  signingInput: Buffer;
  signature: Buffer;
}

export function splitJws(token: string): JwsSegments | undefined {
  if (!COMPACT_JWS.test(token)) return undefined;
  const firstDot = token.indexOf('.');
  const lastDot = token.lastIndexOf('.');
  const signature = token.slice(lastDot + 1);
  // A base64url segment of length 4n+1 cannot come from whole bytes: reject rather than let it truncate.
  if (signature.length % 4 === 1) return undefined;
  return {
    header: token.slice(0, firstDot),
    payload: token.slice(firstDot + 1, lastDot),
    signingInput: Buffer.from(token.slice(0, lastDot), 'latin1'),
    signature: Buffer.from(signature, 'base64url'),
  };
}

/** A header segment: a JSON object that names no parameter twice. */
export function decodeJwsHeader(segment: string): Record<string, unknown> | undefined {
  return decodeSegment(segment, { uniqueNames: true });
}

export function decodeJwsPayload(segment: string): Record<string, unknown> | undefined {
  return decodeSegment(segment, { uniqueNames: false });
}

/**
 * RFC 7515 §4.1.11: a `crit` extension the verifier does not understand makes the token invalid.
 * tollgate understands one, `b64` (RFC 7797), and only its default: a JWT's payload is always
 * base64url-encoded (RFC 7797 §7), so `b64: false` is refused too. These are jose's rules, checked
 * where jose checks them: before the key is looked up.
 */
export function criticalExtensionsUnderstood(header: Readonly<Record<string, unknown>>): boolean {
  const { crit } = header;
  if (crit === undefined) return true;
  if (!Array.isArray(crit) || crit.length === 0) return false;
  return crit.every((name) => name === 'b64') && header.b64 === true;
}

function decodeSegment(segment: string, { uniqueNames }: { uniqueNames: boolean }): Record<string, unknown> | undefined {
  if (segment.length % 4 === 1) return undefined; // as for the signature in splitJws
  let text: string;
  let value: unknown;
  try {
    text = strictUtf8.decode(Buffer.from(segment, 'base64url'));
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isPlainObject(value) || depth(value, 0) > MAX_JSON_DEPTH) return undefined;
  if (uniqueNames && hasDuplicateTopLevelKey(text)) return undefined;
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
