import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { ConfigError } from '../util/config-error.js';
import { splitHostPort } from '../util/host-port.js';
import { readSecretSource, type SecretSource } from '../util/secret.js';
import type { RedisConfig } from './redis-config.js';

/**
 * The Redis deployment behind the revocation store: one server (`url`), a Sentinel-managed primary
 * (`sentinel`) or a Redis Cluster (`cluster`). ioredis does the topology work (finding the primary,
 * following failovers, routing slots); this module only builds its clients and says which connection
 * owns a key, so that a write and its WAIT reach the same primary.
 */
export interface RedisTopology {
  /** Redacted, for logs and errors: never a password. */
  readonly description: string;
  /** The client commands go through: one connection, or the cluster client. */
  readonly client: Redis | Cluster;
  /**
   * Connections to every primary (one, or each cluster primary): what a full resync reads. Throws
   * while some cluster slot has no known primary (mid-failover): a snapshot missing a primary's keys
   * would silently un-revoke them. Asks the cluster for a fresh slot map then, for the retry.
   */
  primaries(): Redis[];
  /** The primary holding `key`, or undefined while the cluster's slot map is not known. */
  primaryFor(key: string): Redis | undefined;
  /**
   * A new subscriber connection. Cluster: plain PUBLISH is broadcast over the cluster bus, so one
   * connection to any node hears every change; it does not reconnect on its own (`end`), the caller
   * asks for another, possibly to another node.
   */
  createSubscriber(options: RedisOptions): Redis;
}

/** Redis Cluster's hash slots. */
const SLOTS = 16384;

/**
 * ioredis is loaded when a Redis store is configured, not at start: it costs ~14 MB of idle RSS that a
 * replica using the file or memory store would otherwise carry (bench/OPTIMIZATIONS.md).
 */
export function ioredis(): typeof import('ioredis') {
  return createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
}

export function createRedisTopology(config: RedisConfig, base: RedisOptions): RedisTopology {
  const { Cluster, Redis } = ioredis();
  const password = readSecret(config.sentinel?.password ?? config.cluster?.password ?? config.password, secretField(config));
  const tls = config.tls === undefined ? undefined : { ca: readCa(config.tls.caFile) };
  const auth: RedisOptions = { ...base, username: config.username, password, ...(tls === undefined ? {} : { tls }) };

  if (config.sentinel !== undefined) {
    const sentinel = config.sentinel;
    const options: RedisOptions = {
      ...auth,
      sentinels: sentinel.sentinels.map(splitHostPort),
      name: sentinel.masterName,
      sentinelPassword: readSecret(sentinel.sentinelPassword, 'revocation.redis.sentinel.sentinelPassword'),
      // Subscribe to the sentinels' +switch-master: reconnect to a new primary as soon as it is promoted.
      failoverDetector: true,
      sentinelCommandTimeout: base.commandTimeout,
      ...(tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: tls }),
    };
    const client = new Redis({ ...options, connectionName: 'tollgate-revocation' });
    return {
      description: `redis sentinel ${sentinel.masterName} via ${sentinel.sentinels.join(',')}`,
      client,
      primaries: () => [client],
      primaryFor: () => client,
      createSubscriber: (extra) => new Redis({ ...options, ...extra }),
    };
  }

  if (config.cluster !== undefined) {
    const seeds = config.cluster.nodes.map(splitHostPort);
    const client = new Cluster(seeds, {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      slotsRefreshTimeout: base.connectTimeout,
      clusterRetryStrategy: base.retryStrategy,
      redisOptions: { ...auth, connectionName: 'tollgate-revocation' },
    });
    let next = 0;
    const nodeKey = (node: Redis) => `${node.options.host}:${node.options.port}`;
    return {
      description: `redis cluster via ${config.cluster.nodes.join(',')}`,
      client,
      primaries() {
        const masters = new Map(client.nodes('master').map((node) => [nodeKey(node), node]));
        const owners = new Set<Redis>();
        for (let slot = 0; slot < SLOTS; slot++) {
          const owner = masters.get(client.slots[slot]?.[0] ?? '');
          if (owner === undefined) {
            client.refreshSlotsCache();
            throw new Error(`cluster slot ${slot} has no reachable primary yet`);
          }
          owners.add(owner);
        }
        return [...owners];
      },
      primaryFor(key) {
        const owner = client.slots[calculateSlot(key)]?.[0];
        return client.nodes('master').find((node) => nodeKey(node) === owner);
      },
      createSubscriber(extra) {
        // Rotate over the known nodes (seeds until the cluster is discovered): a dead node is left behind.
        const known = client.nodes('all').map((node) => ({ host: node.options.host, port: node.options.port }));
        const candidates = known.length > 0 ? known : seeds;
        const target = candidates[next++ % candidates.length] ?? seeds[0];
        return new Redis({ ...auth, ...target, ...extra, retryStrategy: () => null });
      },
    };
  }

  const url = config.url ?? '';
  const client = new Redis(url, { ...auth, connectionName: 'tollgate-revocation' });
  return {
    description: `redis at ${redactUrl(url)}`,
    client,
    primaries: () => [client],
    primaryFor: () => client,
    createSubscriber: (extra) => new Redis(url, { ...auth, ...extra }),
  };
}

function secretField(config: RedisConfig): string {
  if (config.sentinel?.password !== undefined) return 'revocation.redis.sentinel.password';
  if (config.cluster?.password !== undefined) return 'revocation.redis.cluster.password';
  return 'revocation.redis.password';
}

function readSecret(source: SecretSource | undefined, field: string): string | undefined {
  return source === undefined ? undefined : readSecretSource(source, field);
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError([`revocation.redis.tls.caFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
}

/** Connection URLs may carry a password; error messages and logs get the URL without it. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return 'redis (unparseable url)';
  }
}
