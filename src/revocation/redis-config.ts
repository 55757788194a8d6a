import { z } from 'zod';
import { secretSourceSchema, type SecretSource } from '../util/secret.js';

const hostPortSchema = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. redis-sentinel-0:26379');

const sentinelSchema = z.strictObject({
  sentinels: z.array(hostPortSchema).min(1, 'list at least one sentinel'),
  masterName: z.string().min(1),
  /** The primary's and replicas' password (else `redis.password`). */
  password: secretSourceSchema.optional(),
  /** The sentinels' own password, when they require one. */
  sentinelPassword: secretSourceSchema.optional(),
});

const clusterSchema = z.strictObject({
  /** Seed nodes; the client discovers the others. */
  nodes: z.array(hostPortSchema).min(1, 'list at least one node'),
  password: secretSourceSchema.optional(),
});

/**
 * `revocation.redis`: exactly one of `url`, `sentinel` or `cluster`, plus what every topology shares.
 * The client library (ioredis) does the topology work; tollgate adds durability checks on top.
 */
export const redisConfigSchema = z
  .strictObject({
    url: z
      .string()
      .refine((url) => /^rediss?:\/\/./.test(url), { message: 'must be a redis:// or rediss:// URL' })
      .optional(),
    sentinel: sentinelSchema.optional(),
    cluster: clusterSchema.optional(),
    username: z.string().min(1).optional(),
    password: secretSourceSchema.optional(),
    /** TLS to every node (and sentinel); `caFile` is the PEM bundle that signed the servers' certificates. */
    tls: z.strictObject({ caFile: z.string().min(1) }).optional(),
    keyPrefix: z.string().default('tollgate:'),
    /** Pub/sub channel for change notifications; default `<keyPrefix>revocations`. */
    channel: z.string().min(1).optional(),
    /** Bound for connecting at start, for each command, and for the heartbeat that detects silent partitions. */
    timeoutSeconds: z.number().positive().max(300).default(5),
    /**
     * Replicas that must confirm a change (Redis WAIT) before it is acknowledged. Unset: 1 when the
     * primary taking the write has replicas connected, else 0.
     */
    minReplicasAcked: z.number().int().min(0).max(16).optional(),
  })
  .superRefine((config, ctx) => {
    const topologies = (['url', 'sentinel', 'cluster'] as const).filter((key) => config[key] !== undefined);
    if (topologies.length !== 1) {
      ctx.addIssue({ code: 'custom', path: [], message: 'set exactly one of url, sentinel or cluster' });
    }
    for (const key of ['sentinel', 'cluster'] as const) {
      if (config[key]?.password !== undefined && config.password !== undefined) {
        ctx.addIssue({ code: 'custom', path: [key, 'password'], message: 'set the password once: here or in redis.password' });
      }
    }
  });

export type RedisConfig = z.output<typeof redisConfigSchema>;

/** File paths in the section (secrets, CA), resolved with `at` (relative to the config file). */
export function resolveRedisPaths(config: RedisConfig, at: (path: string) => string): RedisConfig {
  const secret = (source: SecretSource | undefined) => (source?.file === undefined ? source : { ...source, file: at(source.file) });
  return {
    ...config,
    password: secret(config.password),
    tls: config.tls && { caFile: at(config.tls.caFile) },
    sentinel: config.sentinel && {
      ...config.sentinel,
      password: secret(config.sentinel.password),
      sentinelPassword: secret(config.sentinel.sentinelPassword),
    },
    cluster: config.cluster && { ...config.cluster, password: secret(config.cluster.password) },
  };
}
