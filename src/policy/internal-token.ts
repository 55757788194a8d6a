import { z } from 'zod';

/**
 * A rule's `internalToken:`. The policy resolves `audience` for the allowed request (`{host}` and path
 * parameters); minting is src/internal-tokens' job.
 */
export const ruleInternalTokenSchema = z.strictObject({
  audience: z.string().min(1),
  exchange: z.literal(true).optional(),
});
