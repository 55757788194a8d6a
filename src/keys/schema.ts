import { z } from 'zod';
import { transportProblem } from './transport.js';

const seconds = z.number().positive();

/** The lower clamp when the config names none: 30 s, or a shorter `refreshSeconds` (tests, fast rotation). */
const DEFAULT_MIN_REFRESH_SECONDS = 30;

/** A provider's `jwks:` section. Exactly one of file | uri | discovery. */
export const jwksConfigSchema = z
  .strictObject({
    /** Local JWKS JSON file; relative paths are resolved by the config loader. */
    file: z.string().min(1).optional(),
    /** https URL of a JWKS. */
    uri: z.string().min(1).optional(),
    /** OIDC discovery: `${issuer}/.well-known/openid-configuration` → jwks_uri. */
    discovery: z.boolean().optional(),
    /** Background refresh interval when the response carries no Cache-Control max-age. */
    refreshSeconds: seconds.default(300),
    /** Lower clamp for max-age; also the retry delay after a failed refresh. */
    minRefreshSeconds: seconds.optional(),
    maxRefreshSeconds: seconds.default(86_400),
    /** How long the last good set is served after refreshes start failing; then fail closed. */
    maxStaleSeconds: z.number().nonnegative().default(86_400),
    /** At most one unknown-kid refetch per cooldown; an unknown kid is remembered this long. */
    unknownKidCooldownSeconds: seconds.default(30),
    /** Whole request, body included. */
    timeoutSeconds: seconds.default(5),
    maxBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    /** Plain http for non-loopback hosts. Off by default: http keys can be swapped in transit. */
    allowInsecureHttp: z.boolean().default(false),
    /** Discovery only: origins the discovered jwks_uri may have; default the issuer's origin. */
    allowedJwksOrigins: z.array(z.url()).min(1).optional(),
  })
  .transform((c) => ({ ...c, minRefreshSeconds: c.minRefreshSeconds ?? Math.min(DEFAULT_MIN_REFRESH_SECONDS, c.refreshSeconds) }))
  .superRefine((c, ctx) => {
    const sources = [c.file !== undefined, c.uri !== undefined, c.discovery === true].filter(Boolean).length;
    if (sources !== 1) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of file, uri or discovery: true', path: [] });
    }
    if (c.uri !== undefined) {
      const problem = transportProblem(c.uri, c.allowInsecureHttp);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['uri'] });
    }
    if (c.allowedJwksOrigins !== undefined && c.discovery !== true) {
      ctx.addIssue({ code: 'custom', message: 'only applies with discovery: true', path: ['allowedJwksOrigins'] });
    }
    if (c.minRefreshSeconds > c.maxRefreshSeconds) {
      ctx.addIssue({ code: 'custom', message: 'must not exceed maxRefreshSeconds', path: ['minRefreshSeconds'] });
    }
    if (c.refreshSeconds < c.minRefreshSeconds || c.refreshSeconds > c.maxRefreshSeconds) {
      ctx.addIssue({
        code: 'custom',
        message: 'must lie between minRefreshSeconds and maxRefreshSeconds',
        path: ['refreshSeconds'],
      });
    }
  });

export type JwksConfig = z.output<typeof jwksConfigSchema>;
