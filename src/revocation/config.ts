import { z } from 'zod';
import { ConfigError, formatPath } from '../util/config-error.js';
import { redisConfigSchema } from './redis-config.js';

/** One week: a revocation must outlive every token it covers; set this to your longest token lifetime. */
export const DEFAULT_TTL_SECONDS = 7 * 24 * 3600;

export const revocationConfigSchema = z
  .strictObject({
    store: z.enum(['memory', 'file', 'redis']).default('file'),
    path: z.string().min(1).optional(),
    redis: redisConfigSchema.optional(),
    /** Unset: the longest token lifetime the config allows (see the top-level config schema), else one week. */
    defaultTtlSeconds: z.number().int().positive().optional(),
    maxStalenessSeconds: z.number().nonnegative().default(30),
    failClosedAfterSeconds: z.number().nonnegative().optional(),
  })
  .superRefine((config, ctx) => {
    if (config.store === 'file' && config.path === undefined) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'required when store is file' });
    }
    if (config.store === 'redis' && config.redis === undefined) {
      ctx.addIssue({ code: 'custom', path: ['redis'], message: 'required when store is redis (url, sentinel or cluster)' });
    }
  });

/**
 * The parsed section with its TTL settled: the top-level config schema fills an unset
 * `defaultTtlSeconds` from the providers' token lifetimes, so the store never guesses one.
 */
export type RevocationConfig = Omit<z.output<typeof revocationConfigSchema>, 'defaultTtlSeconds'> & { defaultTtlSeconds: number };
export type RevocationConfigInput = z.input<typeof revocationConfigSchema>;

/**
 * Parses the section alone (tests, tools; the config loader parses it with the rest), turning zod's
 * issues into one readable error: `revocation.path: required when store is file`.
 */
export function parseRevocationConfig(input: RevocationConfigInput, defaultTtlSeconds = DEFAULT_TTL_SECONDS): RevocationConfig {
  const result = revocationConfigSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${formatPath(['revocation', ...issue.path])}: ${issue.message}`));
  }
  return { ...result.data, defaultTtlSeconds: result.data.defaultTtlSeconds ?? defaultTtlSeconds };
}
