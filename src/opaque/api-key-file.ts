import { parse } from 'yaml';
import { z } from 'zod';
import { formatPath } from '../util/config-error.js';

/** The prefix of a hash in the file: the algorithm is named, so another can be added without ambiguity. */
const HASH_PREFIX = 'sha256:';

const entrySchema = z.strictObject({
  /** Shown in logs, metrics and decision logs in the key's place, and the `jti` revocations name. */
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1 to 128 letters, digits, "_", ".", ":" or "-"'),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be "sha256:" and 64 lower-case hex digits (tollgate keys api-key prints it)'),
  sub: z.string().min(1),
  claims: z.record(z.string(), z.unknown()).default({}),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

const fileSchema = z.array(entrySchema).superRefine((entries, ctx) => {
  for (const field of ['id', 'hash'] as const) {
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      if (seen.has(entry[field])) ctx.addIssue({ code: 'custom', path: [i, field], message: `another entry has the same ${field}` });
      seen.add(entry[field]);
    });
  }
});

/** One key as the pipeline sees it. The object is the same on every lookup until the file changes. */
export interface ApiKey {
  id: string;
  digest: Buffer;
  /** The entry's claims with `sub`, `jti` (the id) and `exp` (from expiresAt) set by tollgate. */
  claims: Readonly<Record<string, unknown>>;
  expiresAtMs: number | undefined;
}

/** Parses the file's text (YAML, or JSON, which is YAML) into keys, or says what is wrong with it. */
export function parseApiKeyFile(text: string): { ok: true; keys: ApiKey[] } | { ok: false; problem: string } {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return { ok: false, problem: `not YAML or JSON: ${err instanceof Error ? err.message.split('\n')[0] : 'parse error'}` };
  }
  const result = fileSchema.safeParse(doc ?? []);
  if (!result.success) {
    // Paths and messages only: zod's issues never carry the input here, so no hash or claim is repeated.
    return { ok: false, problem: result.error.issues.map((i) => `${formatPath(i.path) || '(file)'}: ${i.message}`).join('; ') };
  }
  return {
    ok: true,
    keys: result.data.map((entry) => {
      const expiresAtMs = entry.expiresAt === undefined ? undefined : Date.parse(entry.expiresAt);
      const claims: Record<string, unknown> = { ...entry.claims, sub: entry.sub, jti: entry.id };
      if (expiresAtMs !== undefined) claims.exp = Math.floor(expiresAtMs / 1000);
      return { id: entry.id, digest: Buffer.from(entry.hash.slice(HASH_PREFIX.length), 'hex'), claims, expiresAtMs };
    }),
  };
}
