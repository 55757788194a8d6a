import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from '../helpers/time.js';
import { freePort, isBindFailure, RedisServer } from './redis-server.js';

export const MASTER_NAME = 'tollgate-test';

/** Sentinel's failure detector, kept short so a failover takes a couple of seconds, not thirty. */
const DOWN_AFTER_MS = 500;

async function info(port: number, command: string[], password?: string): Promise<string> {
  const client = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    return String(await client.call(command[0] ?? 'PING', ...command.slice(1)));
  } finally {
    client.disconnect();
  }
}

/**
 * One primary, one replica and three sentinels on 127.0.0.1, as Debian ships them, all requiring
 * `password` (the sentinels too). Resolves once the replica is in sync and every sentinel knows the
 * replica and the two other sentinels, so that a failover can happen at once.
 */
export class SentinelSet {
  private constructor(
    readonly primary: RedisServer,
    readonly replica: RedisServer,
    readonly sentinels: RedisServer[],
    readonly password: string,
  ) {}

  static async launch(password: string): Promise<SentinelSet> {
    const auth = ['--requirepass', password, '--masterauth', password];
    const primary = await RedisServer.launch({ persistent: true, args: () => auth });
    const replica = await RedisServer.launch({
      persistent: true,
      args: () => [...auth, '--replicaof', '127.0.0.1', String(primary.port)],
    });
    const sentinels = await Promise.all(
      [0, 1, 2].map(() =>
        RedisServer.launch({
          sentinel: [
            `requirepass ${password}`,
            `sentinel sentinel-pass ${password}`,
            `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary.port} 2`,
            `sentinel auth-pass ${MASTER_NAME} ${password}`,
            `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
            `sentinel failover-timeout ${MASTER_NAME} 5000`,
            `sentinel parallel-syncs ${MASTER_NAME} 1`,
          ],
        }),
      ),
    );
    const set = new SentinelSet(primary, replica, sentinels, password);
    await waitFor(
      'the replica to be in sync',
      async () => (await info(replica.port, ['INFO', 'replication'], password)).includes('master_link_status:up'),
      { timeoutMs: 15_000, intervalMs: 50 },
    );
    await waitFor(
      'every sentinel to know the replica and the other sentinels',
      async () => {
        for (const sentinel of sentinels) {
          const fields = (await sentinelMaster(sentinel.port, password)) ?? {};
          if (fields['num-slaves'] !== '1' || fields['num-other-sentinels'] !== '2') return false;
        }
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    return set;
  }

  get addresses(): string[] {
    return this.sentinels.map((sentinel) => sentinel.address);
  }

  /** The primary's address as the sentinels report it. */
  async currentPrimary(): Promise<string> {
    const client = new Redis({ port: this.sentinels[0]?.port, host: '127.0.0.1', password: this.password, lazyConnect: true });
    try {
      await client.connect();
      const [host, port] = (await client.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as [string, string];
      return `${host}:${port}`;
    } finally {
      client.disconnect();
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([this.primary, this.replica, ...this.sentinels].map((server) => server.dispose()));
  }
}

/** A cluster-enabled redis-server; its cluster bus port is picked like its port, and picked again if taken. */
async function launchClusterNode(): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const busPort = await freePort();
    try {
      return await RedisServer.launch({
        args: (dir) => [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, 'nodes.conf'),
          '--cluster-port',
          String(busPort),
          '--cluster-node-timeout',
          '1000',
        ],
      });
    } catch (err) {
      if (attempt >= 5 || !isBindFailure(err)) throw err;
    }
  }
}

async function sentinelMaster(port: number, password: string): Promise<Record<string, string> | undefined> {
  const client = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true });
  try {
    await client.connect();
    const flat = (await client.call('SENTINEL', 'master', MASTER_NAME)) as string[];
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] ?? ''] = flat[i + 1] ?? '';
    return fields;
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

/**
 * Cluster primaries (and `replicasPerPrimary` replicas each), created with `redis-cli --cluster create`;
 * resolves once every node reports the cluster ok.
 */
export class ClusterSet {
  private constructor(readonly nodes: RedisServer[]) {}

  static async launch(primaries = 3, replicasPerPrimary = 0): Promise<ClusterSet> {
    const count = primaries * (1 + replicasPerPrimary);
    const nodes = await Promise.all(Array.from({ length: count }, () => launchClusterNode()));
    const set = new ClusterSet(nodes);
    const created = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...set.addresses, '--cluster-replicas', String(replicasPerPrimary), '--cluster-yes'],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    if (created.status !== 0) {
      await set.dispose();
      throw new Error(`redis-cli --cluster create failed:\n${created.stdout}\n${created.stderr}`);
    }
    await waitFor(
      'every cluster node to report cluster_state:ok',
      async () =>
        (await Promise.all(nodes.map((node) => info(node.port, ['CLUSTER', 'INFO'])))).every((text) => text.includes('cluster_state:ok')),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    // A replica joins its primary after the cluster reports ok; WAIT needs it in sync.
    await waitFor(
      'every cluster replica to be in sync',
      async () => {
        const replication = await Promise.all(nodes.map((node) => info(node.port, ['INFO', 'replication'])));
        return replication.every((text) => text.includes('role:master') || text.includes('master_link_status:up'));
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    return set;
  }

  get addresses(): string[] {
    return this.nodes.map((node) => node.address);
  }

  /** The node's role now (`master` or `slave`), as ROLE reports it. */
  async role(node: RedisServer): Promise<string> {
    const client = new Redis({ port: node.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await client.connect();
      return String(((await client.call('ROLE')) as unknown[])[0]);
    } finally {
      client.disconnect();
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.dispose()));
  }
}
