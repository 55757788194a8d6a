import { z } from 'zod';
import { hostPortSchema } from './host-port.js';

/** The `admin:` section; the admin API is off unless one of the two names a secret. */
export const adminConfigSchema = z
  .strictObject({
    /** File holding the bearer secret (surrounding whitespace ignored). Read once at startup. */
    tokenFile: z.string().min(1).optional(),
    /** Environment variable holding the bearer secret. */
    tokenEnv: z.string().min(1).optional(),
    /**
     * A listener of its own for the admin API (TLS as listen.httpTls), which then leaves the HTTP port:
     * those who may read metrics or the JWKS there need not reach the revocation API.
     */
    listen: hostPortSchema.optional(),
  })
  .refine((config) => config.tokenFile === undefined || config.tokenEnv === undefined, {
    message: 'set tokenFile or tokenEnv, not both',
    path: ['tokenEnv'],
  });

export type AdminConfig = z.output<typeof adminConfigSchema>;
