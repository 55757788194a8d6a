/**
 * The `contextSources:` section: domain services that answer "which roles does this subject hold in
 * this context" when the token does not list the context at all (a rule's `contextRole.fallback`).
 */
import { z } from 'zod';

/** The placeholders a source URL may use; each is percent-encoded when filled in. */
export const URL_PLACEHOLDERS = ['provider', 'sub', 'context', 'id'] as const;

const urlTemplateSchema = z
  .string({ error: 'http.url must be a string' })
  .refine((url) => /^https?:\/\//.test(url), { error: 'http.url must start with http:// or https://' })
  .refine((url) => [...url.matchAll(/\{([^{}]*)\}/g)].every(([, name]) => (URL_PLACEHOLDERS as readonly string[]).includes(name ?? '')), {
    error: 'http.url may only use the placeholders {provider}, {sub}, {context} and {id}',
  })
  .refine((url) => url.replace(/\{(provider|sub|context|id)\}/g, '').match(/[{}]/) === null, { error: 'http.url has an unbalanced brace' })
  .refine((url) => !/^https?:\/\/[^/?#]*(?:\/[^?#]*)?\/\.\.?(?:[/?#]|$)/.test(url), {
    error: 'http.url must not contain "." or ".." path segments',
  });

const headerValueSchema = z.string().regex(/^[\x20-\x7e]*$/, { error: 'header values must be printable ASCII' });

export const contextSourceSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'name must be 1-64 letters, digits, ".", "_" or "-"' }),
  http: z.strictObject({
    url: urlTemplateSchema,
    timeoutMs: z.number().int().min(1).max(10_000).default(200),
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { error: 'header names must be tokens' }), headerValueSchema)
      .optional(),
  }),
  /** How long an answer with roles is kept. */
  cacheSeconds: z.number().min(0).default(60),
  /** How long an answer without roles (`{"roles": []}`) is kept. */
  negativeCacheSeconds: z.number().min(0).default(10),
  maxEntries: z.number().int().min(1).default(100_000),
  /** Bytes the cached answers may take in all (keys and roles, as UTF-16). */
  maxBytes: z
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
});

export const contextSourcesSchema = z
  .array(contextSourceSchema)
  .default([])
  .superRefine((sources, ctx) => {
    const seen = new Set<string>();
    sources.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate context source name ${JSON.stringify(s.name)}` });
      seen.add(s.name);
    });
  });

export type ContextSourceConfig = z.infer<typeof contextSourceSchema>;
