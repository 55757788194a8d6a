import { z } from 'zod';

/** The `admin:` section; the admin API is off unless one of the two names a secret. */
export const adminConfigSchema = z
  .strictObject({
    /** File holding the bearer secret (surrounding whitespace ignored). Read once at startup. */
    tokenFile: z.string().min(1).optional(),
    /** Environment variable holding the bearer secret. */
    tokenEnv: z.string().min(1).optional(),
  })
  .refine((config) => config.tokenFile === undefined || config.tokenEnv === undefined, {
    message: 'set tokenFile or tokenEnv, not both',
    path: ['tokenEnv'],
  });

export type AdminConfig = z.output<typeof adminConfigSchema>;
