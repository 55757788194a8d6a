import { z } from 'zod';
import type { Clock } from '../util/clock.js';
import { RevocationInputError, type RefreshMarker, type RevocationEntry, type RevocationInput, type RevocationType } from './types.js';

/** Identifiers longer than this are not real `jti`/`sid`/`sub` values; the cap keeps the mirror bounded. */
export const MAX_VALUE_LENGTH = 1024;
export const MAX_REASON_LENGTH = 1024;

/**
 * "Now" as a cut-off: the start of the next whole second. JWT `iat` has one-second resolution, so a
 * token issued in the same second as the revocation cannot be proven to come after it: it is revoked
 * (or asked to refresh) too. The safe side costs at most one second of re-issued tokens.
 */
export function cutoffNow(clock: Clock): number {
  return Math.floor(clock.now() / 1000) + 1;
}

export function buildEntry(input: RevocationInput, clock: Clock, defaultTtlSeconds: number): RevocationEntry {
  checkValue('value', input.value);
  const nowMs = clock.now();
  const now = nowMs / 1000;
  let notBefore: number | undefined;
  if (input.type === 'sub') {
    notBefore = input.notBefore === undefined ? cutoffNow(clock) : Math.ceil(finite('notBefore', input.notBefore));
  } else if (input.notBefore !== undefined) {
    throw new RevocationInputError('notBefore', 'only applies to type sub');
  }
  if (input.sub !== undefined) {
    if (input.type === 'sub') throw new RevocationInputError('sub', 'only applies to type jti or sid');
    checkValue('sub', input.sub);
  }
  // A `sub` cut-off in the future must outlive the tokens issued until then, hence max(now, notBefore).
  const expiresAt =
    input.expiresAt === undefined ? Math.ceil(Math.max(now, notBefore ?? now)) + defaultTtlSeconds : finite('expiresAt', input.expiresAt);
  if (expiresAt <= now) throw new RevocationInputError('expiresAt', 'must be in the future');
  if (input.reason !== undefined && input.reason.length > MAX_REASON_LENGTH) {
    throw new RevocationInputError('reason', `must be at most ${MAX_REASON_LENGTH} characters`);
  }
  const entry: RevocationEntry = { type: input.type, value: input.value, expiresAt, createdAt: Math.floor(now) };
  if (notBefore !== undefined) entry.notBefore = notBefore;
  if (input.reason !== undefined) entry.reason = input.reason;
  if (input.sub !== undefined) entry.sub = input.sub;
  return entry;
}

export function buildRefreshMarker(sub: string, at: number | undefined, clock: Clock, defaultTtlSeconds: number): RefreshMarker {
  checkValue('sub', sub);
  const cutoff = at === undefined ? cutoffNow(clock) : Math.ceil(finite('at', at));
  // Tokens issued before `at` live at most defaultTtlSeconds after it; the marker is useless afterwards.
  return { sub, at: cutoff, expiresAt: Math.max(cutoff, cutoffNow(clock)) + defaultTtlSeconds };
}

function checkValue(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) throw new RevocationInputError(field, 'must be a non-empty string');
  if (value.length > MAX_VALUE_LENGTH) {
    throw new RevocationInputError(field, `must be at most ${MAX_VALUE_LENGTH} characters`);
  }
}

function finite(field: string, value: number): number {
  if (!Number.isFinite(value)) throw new RevocationInputError(field, 'must be a finite number of epoch seconds');
  return value;
}

// Persisted forms (file lines, Redis values and messages) are parsed back through these schemas:
// the file may be hand-edited and Redis may be shared, so neither is trusted blindly.
const typeSchema = z.enum(['jti', 'sid', 'sub']);
const valueSchema = z.string().min(1).max(MAX_VALUE_LENGTH);
const epochSchema = z.number().finite();

export const entrySchema = z.object({
  type: typeSchema,
  value: valueSchema,
  notBefore: epochSchema.optional(),
  expiresAt: epochSchema,
  reason: z.string().optional(),
  sub: valueSchema.optional(),
  createdAt: epochSchema,
});

export const refreshMarkerSchema = z.object({ sub: valueSchema, at: epochSchema, expiresAt: epochSchema });

/** One change to the revocation set: a file log line, a Redis notification. */
export type StoreOp =
  | { op: 'revoke'; entry: RevocationEntry }
  | { op: 'unrevoke'; type: RevocationType; value: string }
  | { op: 'refresh'; marker: RefreshMarker };

export const storeOpSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('revoke'), entry: entrySchema }),
  z.object({ op: z.literal('unrevoke'), type: typeSchema, value: valueSchema }),
  z.object({ op: z.literal('refresh'), marker: refreshMarkerSchema }),
]);
