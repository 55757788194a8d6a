import { z } from 'zod';
import { transportProblem } from '../keys/transport.js';
import { secretSourceSchema } from '../util/secret.js';

/**
 * `providers[].introspection`: an RFC 7662 endpoint that answers for opaque access tokens. Every
 * default is the cautious one: a short timeout (the Check waits on it), a cache that never outlives
 * the token, and https unless the endpoint is on this machine.
 */
export const introspectionConfigSchema = z
  .strictObject({
    url: z.string().min(1),
    clientId: z.string().min(1),
    clientSecret: secretSourceSchema,
    authMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    timeoutMs: z.number().int().min(10).max(30000).default(500),
    cacheSeconds: z.number().int().min(0).max(3600).default(60),
    negativeCacheSeconds: z.number().int().min(0).max(300).default(5),
    maxEntries: z.number().int().min(0).max(10_000_000).default(100000),
    allowInsecureHttp: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    const problem = transportProblem(c.url, c.allowInsecureHttp);
    // The client secret and every token travel in this request: plain http would hand both to the path.
    if (problem) ctx.addIssue({ code: 'custom', path: ['url'], message: problem });
  });

export type IntrospectionConfig = z.output<typeof introspectionConfigSchema>;

/** `providers[].apiKeys`: the file of key hashes (see api-key-file.ts for its entries). */
export const apiKeysConfigSchema = z.strictObject({ file: z.string().min(1) });
