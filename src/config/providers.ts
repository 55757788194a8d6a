import { z } from 'zod';
import { HOST_NOT_SETTABLE, settableByExtAuthz } from '../util/header-name.js';
import { jwksConfigSchema } from '../keys/index.js';
import { claimPathSchema } from '../util/claim-path.js';
import { secretSourceSchema } from '../util/secret.js';
import { apiKeysConfigSchema, introspectionConfigSchema } from '../opaque/index.js';

/**
 * Signature algorithms tollgate accepts in a provider's allow-list. `none` is never one of them;
 * HMAC algorithms need a shared secret configured for that provider (`hmacSecret`).
 */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
const ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS] as const;

const algorithmSchema = z.string().refine((alg): alg is (typeof ALGORITHMS)[number] => (ALGORITHMS as readonly string[]).includes(alg), {
  error: (issue) =>
    String(issue.input).toLowerCase() === 'none'
      ? 'alg "none" is never accepted: remove it'
      : `unknown algorithm ${JSON.stringify(issue.input)}: use one of ${ALGORITHMS.join(', ')}`,
});

/** Header names as Envoy sends them: lower-case tokens. Pseudo-headers and host are Envoy's own. */
export const headerNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name (letters, digits, "-")')
  .transform((name) => name.toLowerCase())
  .refine(settableByExtAuthz, HOST_NOT_SETTABLE);

const fromHeaderSchema = z.strictObject({
  name: headerNameSchema,
  /** Text before the token, e.g. "Bearer ". Matched case-insensitively (auth schemes are). */
  prefix: z.string().default(''),
});

/**
 * DPoP (RFC 9449) for a provider's tokens. Proof algorithms are asymmetric only: a proof is signed by
 * the client's own key, carried in the proof, so a shared-secret algorithm (or `none`) proves nothing.
 */
export const DPOP_DEFAULT_ALGORITHMS = ['ES256', 'EdDSA', 'PS256', 'RS256'] as const;
const dpopAlgorithmSchema = algorithmSchema.refine((alg) => (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg), {
  error: (issue) => `${JSON.stringify(issue.input)} cannot sign a DPoP proof: use ${ASYMMETRIC_ALGORITHMS.join(', ')}`,
});
const dpopSchema = z.strictObject({
  algorithms: z
    .array(dpopAlgorithmSchema)
    .min(1)
    .default([...DPOP_DEFAULT_ALGORITHMS]),
  /** A proof's `iat` may be this old (plus the provider's clockSkewSeconds); its `jti` is remembered as long. */
  maxAgeSeconds: z.number().int().min(1).max(300).default(60),
  /** true: this provider's tokens are accepted only with the DPoP scheme and a proof. */
  required: z.boolean().default(false),
});

const claimToHeaderSchema = z.strictObject({
  header: headerNameSchema,
  claim: claimPathSchema,
});

/** Fields only a JWT provider has: an introspection or apiKeys provider must not set them. */
const JWT_ONLY = ['jwks', 'hmacSecret', 'algorithms'] as const;

export const providerSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, "_", "." or "-"'),
    issuer: z.string().min(1, 'must be the exact `iss` value the provider puts in its tokens').optional(),
    audiences: z.array(z.string().min(1)).min(1, 'list at least one audience the token must carry in `aud`').optional(),
    algorithms: z.array(algorithmSchema).min(1, 'list the signature algorithms this provider uses (an allow-list is required)').optional(),
    jwks: jwksConfigSchema.optional(),
    hmacSecret: secretSourceSchema.optional(),
    /** Opaque access tokens, answered by an RFC 7662 endpoint. */
    introspection: introspectionConfigSchema.optional(),
    /** API keys, looked up by hash in a watched file. */
    apiKeys: apiKeysConfigSchema.optional(),
    clockSkewSeconds: z.number().int().min(0).max(300).default(30),
    maxTokenAgeSeconds: z.number().int().positive().optional(),
    /** Default: `[exp]`, except for API keys (whose entries may have no `expiresAt`). */
    requiredClaims: z.array(z.string().min(1)).optional(),
    typ: z.string().min(1).optional(),
    fromHeaders: z.array(fromHeaderSchema).default([{ name: 'authorization', prefix: 'Bearer ' }]),
    fromCookies: z.array(z.string().min(1)).default([]),
    fromParams: z.array(z.string().min(1)).default([]),
    claimToHeaders: z.array(claimToHeaderSchema).default([{ header: 'x-user-id', claim: 'sub' }]),
    /** true: a token without a `cnf` binding (certificate or DPoP key) is refused. */
    requireSenderConstraint: z.boolean().default(false),
    dpop: dpopSchema.optional(),
  })
  .superRefine((p, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (p.introspection && p.apiKeys) issue('apiKeys', 'a provider has either `introspection` or `apiKeys`, not both');
    const opaque = p.introspection ? 'introspection' : p.apiKeys ? 'apiKeys' : undefined;
    if (opaque) {
      for (const field of JWT_ONLY) {
        if (p[field] !== undefined) issue(field, `not used with \`${opaque}\`: remove it (${opaque} tokens are not signed JWTs)`);
      }
      if (p.typ !== undefined) issue('typ', `not used with \`${opaque}\`: remove it (typ is a JWT header)`);
    } else {
      checkJwtProvider(p, issue);
    }
    if (p.apiKeys) {
      for (const field of ['issuer', 'audiences', 'maxTokenAgeSeconds'] as const) {
        if (p[field] !== undefined) issue(field, 'not used with `apiKeys`: an API key has no issuer, audience or issue time; remove it');
      }
    } else {
      if (p.audiences === undefined) issue('audiences', 'required: a list, e.g. [api]');
      if (p.requiredClaims !== undefined && !p.requiredClaims.includes('exp')) {
        issue('requiredClaims', 'must include "exp": tokens without an expiry are never accepted');
      }
    }
    // The DPoP scheme is only ever read with its proof checked: it comes from `dpop`, never a plain prefix.
    const dpopPrefix = p.fromHeaders.findIndex((h) => h.prefix.trim().toLowerCase() === 'dpop');
    if (dpopPrefix >= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['fromHeaders', dpopPrefix, 'prefix'],
        message: 'the DPoP scheme is read with its proof checked: set `dpop` on the provider instead',
      });
    }
    if (p.fromHeaders.length + p.fromCookies.length + p.fromParams.length === 0) {
      issue('fromHeaders', 'the provider needs at least one token location (fromHeaders, fromCookies or fromParams)');
    }
  })
  .transform((p) => ({ ...p, requiredClaims: p.requiredClaims ?? (p.apiKeys ? [] : ['exp']) }));

interface JwtFields {
  issuer?: string;
  algorithms?: readonly string[];
  jwks?: unknown;
  hmacSecret?: unknown;
}

function checkJwtProvider(p: JwtFields, issue: (path: string, message: string) => void): void {
  if (p.issuer === undefined) issue('issuer', 'required: the exact `iss` value the provider puts in its tokens');
  if (p.algorithms === undefined) {
    issue('algorithms', 'required: list the signature algorithms this provider uses (or configure `introspection` or `apiKeys`)');
    return;
  }
  const hmac = p.algorithms.some((a) => a.startsWith('HS'));
  if (hmac && !p.hmacSecret) {
    issue('algorithms', 'HS* algorithms need `hmacSecret` for this provider; use an asymmetric algorithm or configure the secret');
  }
  if (!hmac && p.hmacSecret) issue('hmacSecret', 'set only when `algorithms` lists an HS* algorithm');
  if (p.algorithms.some((a) => !a.startsWith('HS')) && !p.jwks) {
    issue('jwks', 'required for asymmetric algorithms: set jwks.file, jwks.uri or jwks.discovery');
  }
}

export type ProviderConfig = z.infer<typeof providerSchema>;
export type { SecretSource } from '../util/secret.js';
