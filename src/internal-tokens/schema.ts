import { z } from 'zod';
import { HOST_NOT_SETTABLE, settableByExtAuthz } from '../util/header-name.js';
import { DEFAULT_MAX_CHAIN_DEPTH } from '../util/actor-chain.js';

/**
 * The JWT `typ` of minted tokens: the media type `application/tollgate-internal+jwt`, written without
 * `application/` as RFC 7515 §4.1.9 recommends. A verifier that requires it cannot mistake an
 * external access token (`at+jwt`, or none) for an internal one.
 */
export const INTERNAL_TOKEN_TYP = 'tollgate-internal+jwt';

export const SIGNING_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/**
 * Claims tollgate sets itself; copying them from the external token would let it forge them. `cnf`
 * too: the external token's binding names the client's key or certificate, never the next hop's
 * caller, and with `bindToCaller` tollgate writes its own.
 */
const RESERVED_CLAIMS = new Set(['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'act', 'cnf']);

/** `internalTokens:` — the gateway mints short-lived tokens for the services behind it. */
export const internalTokensSchema = z.strictObject({
  /** `iss` of minted tokens; also the base of the discovery document's `jwks_uri`. */
  issuer: z.url({ protocol: /^https?$/ }),
  /** A directory of private JWKs (a Kubernetes Secret mounted as a directory). */
  keysDir: z.string().min(1),
  algorithm: z.enum(SIGNING_ALGORITHMS).default('ES256'),
  ttlSeconds: z.number().int().min(10).max(900).default(120),
  /** `authorization` carries `Bearer <token>`; any other header carries the bare token. */
  header: z
    .string()
    .regex(/^[a-z0-9-]+$/, 'a lower-case header name')
    .refine(settableByExtAuthz, HOST_NOT_SETTABLE)
    .default('authorization'),
  claims: z
    .array(z.string().min(1))
    .default([])
    .refine(
      (names) => names.every((n) => !RESERVED_CLAIMS.has(n)),
      `tollgate sets ${[...RESERVED_CLAIMS].join(', ')} itself; they cannot be copied`,
    ),
  /** A new key signs only after its public part has been served this long. */
  publishAheadSeconds: z.number().int().min(0).max(86_400).default(300),
  /** Longest `act` chain an exchange may produce. */
  maxChainDepth: z.number().int().min(1).max(16).default(DEFAULT_MAX_CHAIN_DEPTH),
  /**
   * Binds every minted token to the caller's client certificate (RFC 8705 `cnf["x5t#S256"]`): only a
   * request over a connection with that certificate is allowed with it at the next hop.
   */
  bindToCaller: z.boolean().default(false),
});

export type InternalTokensConfig = z.infer<typeof internalTokensSchema>;
