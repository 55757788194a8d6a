/**
 * Claim paths: `realm_access.roles` walks nested objects. A top-level claim whose name contains dots
 * (namespaced claims such as `https://example.com/roles`) is tried first as one exact key, so those
 * claims work without escaping. Paths are split once, at load.
 */

import { z } from 'zod';

export interface ClaimPath {
  readonly source: string;
  readonly parts: readonly string[];
}

export function compileClaimPath(source: string): { ok: true; path: ClaimPath } | { ok: false; message: string } {
  const parts = source.split('.');
  if (source === '' || parts.some((p) => p === '')) {
    return { ok: false, message: `claim path "${source}" has an empty part; write names joined by single dots, e.g. realm_access.roles` };
  }
  return { ok: true, path: { source, parts } };
}

/** A claim path in a config section, validated where the section is parsed. */
export const claimPathSchema = z.string().superRefine((path, ctx) => {
  const compiled = compileClaimPath(path);
  if (!compiled.ok) ctx.addIssue({ code: 'custom', message: compiled.message });
});

export type JsonObject = Readonly<Record<string, unknown>>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only: a claim named `constructor` or `__proto__` must never reach the prototype. */
export function own(object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

export function readClaim(claims: JsonObject, path: ClaimPath): unknown {
  if (path.parts.length > 1 && Object.hasOwn(claims, path.source)) return claims[path.source];
  let current: unknown = claims;
  for (const part of path.parts) {
    if (!isObject(current)) return undefined;
    current = own(current, part);
  }
  return current;
}

/**
 * A claim read as a list: an array as is, a single value as a one-element list, absent as empty. IdPs
 * differ on whether a lone role is `"admin"` or `["admin"]`; both mean the same.
 */
export function asList(value: unknown): readonly unknown[] {
  if (Array.isArray(value)) return value;
  return value === undefined || value === null ? [] : [value];
}
