import { z } from 'zod';
import { providerSchema, headerNameSchema, type ProviderConfig } from './providers.js';
import { rulesSchema, defaultDecisionSchema, viewAsConfigSchema, type RuleConfig } from '../policy/index.js';
import { DEFAULT_TTL_SECONDS, revocationConfigSchema } from '../revocation/index.js';
import { adminConfigSchema } from './admin.js';
import { HOST_PORT, hostPortSchema } from './host-port.js';
import { tlsListenerSchema } from '../tls/schema.js';
import { internalTokensSchema } from '../internal-tokens/schema.js';
import { authzConfigSchema } from './authz.js';
import { GRPC_LIMIT_DEFAULTS, grpcLimitsSchema } from './grpc-limits.js';
import { contextSourcesSchema } from '../context/config.js';
import { readinessConfigSchema } from './readiness.js';
import { decisionLogConfigSchema } from '../observability/decision-log-config.js';
import { tracingConfigSchema } from '../observability/tracing-config.js';

/** `off`: no HTTP authorization port (a sidecar whose Envoy asks over gRPC needs none). */
const authzAddressSchema = z
  .string()
  .refine((v) => v === 'off' || HOST_PORT.test(v), 'must be host:port, e.g. 127.0.0.1:9003, or off for no HTTP authorization port');

/**
 * Identity headers: which incoming headers are removed because only tollgate may set them. An entry
 * ending in "-" is a prefix (`x-user-` removes `X-User-Id`, `x-user-roles`, ...); any other entry is a
 * whole header name. Comparison is case-insensitive.
 */
const identityHeadersSchema = z.strictObject({
  strip: z
    .array(headerNameSchema)
    .default(['x-user-', 'x-auth-'])
    .refine((names) => names.every((n) => !n.startsWith(':')), 'pseudo-headers cannot be removed'),
  /** false (default): the header that carried the token is removed before the request goes upstream. */
  forwardToken: z.boolean().default(false),
});

export const configSchema = z
  .strictObject({
    listen: z
      .strictObject({
        grpc: hostPortSchema.default('0.0.0.0:9001'),
        http: hostPortSchema.default('0.0.0.0:9002'),
        tls: tlsListenerSchema.optional(),
        httpTls: tlsListenerSchema.optional(),
        authz: authzAddressSchema.default('0.0.0.0:9003'),
      })
      .default({ grpc: '0.0.0.0:9001', http: '0.0.0.0:9002', authz: '0.0.0.0:9003' }),
    authz: authzConfigSchema,
    providers: z.array(providerSchema).default([]),
    identityHeaders: identityHeadersSchema.default({ strip: ['x-user-', 'x-auth-'], forwardToken: false }),
    rules: rulesSchema.default([]),
    contextSources: contextSourcesSchema,
    viewAs: viewAsConfigSchema.optional(),
    defaultDecision: defaultDecisionSchema,
    /** Global dry run: every decision is computed, logged and counted, and every request is allowed. */
    dryRun: z.boolean().default(false),
    /** Realm in `WWW-Authenticate: Bearer realm="..."`. */
    realm: z
      .string()
      .regex(/^[\x20-\x7e]*$/)
      .refine((s) => !s.includes('"') && !s.includes('\\'), 'must not contain quotes or backslashes')
      .default('tollgate'),
    limits: z
      .strictObject({
        /** Tokens longer than this are denied before any parsing. */
        maxTokenBytes: z.number().int().min(256).max(65536).default(8192),
        grpc: grpcLimitsSchema,
      })
      .default({ maxTokenBytes: 8192, grpc: GRPC_LIMIT_DEFAULTS }),
    tokenCache: z
      .strictObject({
        /** Verified tokens kept (LRU); 0 turns the cache off. */
        maxEntries: z.number().int().min(0).default(10000),
      })
      .default({ maxEntries: 10000 }),
    revocation: revocationConfigSchema.optional(),
    admin: adminConfigSchema.optional(),
    internalTokens: internalTokensSchema.optional(),
    readiness: readinessConfigSchema,
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** json for log collectors; pretty (pino-pretty) for a terminal. */
        format: z.enum(['json', 'pretty']).default('json'),
        /** Denial lines per second in this log; the rest are skipped and counted (a flood of bad tokens is no lever). */
        denialsPerSecond: z.number().int().min(0).max(100000).default(100),
      })
      .default({ level: 'info', format: 'json', denialsPerSecond: 100 }),
    decisionLog: decisionLogConfigSchema.optional(),
    tracing: tracingConfigSchema.optional(),
    shutdown: z
      .strictObject({
        /**
         * On SIGTERM health goes NOT_SERVING at once, and Check is still answered this long so Envoy's
         * health checks see it and move traffic away before the listener closes.
         */
        notServingSeconds: z.number().min(0).max(60).default(2),
        /** Upper bound for the whole shutdown: in-flight checks that run longer are cut off. */
        drainSeconds: z.number().min(0).max(300).default(10),
      })
      .default({ notServingSeconds: 2, drainSeconds: 10 })
      .refine((s) => s.notServingSeconds <= s.drainSeconds, {
        message: 'notServingSeconds must not exceed drainSeconds',
        path: ['notServingSeconds'],
      }),
  })
  .superRefine((config, ctx) => {
    const names = new Set<string>();
    const issuers = new Set<string>();
    config.providers.forEach((p, i) => {
      if (names.has(p.name))
        ctx.addIssue({ code: 'custom', path: ['providers', i, 'name'], message: `duplicate provider name ${JSON.stringify(p.name)}` });
      // Only JWT providers are chosen by `iss`: an introspection provider may name the same issuer.
      const issuer = p.introspection ? undefined : p.issuer;
      if (issuer !== undefined && issuers.has(issuer))
        ctx.addIssue({
          code: 'custom',
          path: ['providers', i, 'issuer'],
          message: 'another provider has the same issuer: tokens are routed by `iss`, so issuers must be unique',
        });
      names.add(p.name);
      if (issuer !== undefined) issuers.add(issuer);
    });
    config.rules.forEach((rule, i) => {
      if (rule.internalToken && !config.internalTokens)
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'internalToken'],
          message: 'configure internalTokens (issuer, keysDir) to mint internal tokens',
        });
    });
    if (config.internalTokens && !config.listen.tls?.clientCaFile) {
      ctx.addIssue({
        code: 'custom',
        path: ['internalTokens'],
        message:
          'minted tokens name the calling workload in act.sub, taken from its client certificate: configure listen.tls with clientCaFile',
      });
    }
    checkFallbacks(config, ctx);
    if (config.admin && !config.revocation) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin'],
        message: 'the admin API manages revocations: configure `revocation` too (store: memory, file or redis)',
      });
    }
  })
  .transform((config) => ({
    ...config,
    revocation: config.revocation && {
      ...config.revocation,
      defaultTtlSeconds: config.revocation.defaultTtlSeconds ?? longestTokenLifetime(config.providers),
    },
  }));

/** Every `contextRole.fallback` names a configured context source. */
function checkFallbacks(config: { rules: RuleConfig[]; contextSources: readonly { name: string }[] }, ctx: z.RefinementCtx): void {
  const names = new Set(config.contextSources.map((s) => s.name));
  config.rules.forEach((rule, i) => {
    const sets = [
      { set: rule.require, path: ['require'] },
      ...(rule.require.anyOf ?? []).map((set, j) => ({ set, path: ['require', 'anyOf', j] })),
    ];
    for (const { set, path } of sets) {
      const fallback = set.contextRole?.fallback;
      if (fallback !== undefined && !names.has(fallback)) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, ...path, 'contextRole', 'fallback'],
          message: `no context source named ${JSON.stringify(fallback)}; add it to contextSources`,
        });
      }
    }
  });
}

/**
 * How long a revocation must live to outlast every token it covers: when every provider bounds token
 * age (`maxTokenAgeSeconds`), the longest bound plus skew; otherwise nothing bounds it and the store's
 * default (one week) applies.
 */
function longestTokenLifetime(providers: readonly ProviderConfig[]): number {
  if (providers.length === 0 || providers.some((p) => p.maxTokenAgeSeconds === undefined)) return DEFAULT_TTL_SECONDS;
  return Math.max(...providers.map((p) => (p.maxTokenAgeSeconds ?? 0) + p.clockSkewSeconds));
}

export type Config = z.infer<typeof configSchema>;
export type IdentityHeadersConfig = Config['identityHeaders'];
