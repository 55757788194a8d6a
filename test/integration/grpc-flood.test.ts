import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { waitForServing } from '../helpers/cli-process.js';
import { DEPLOYED_NODE_ARGS } from '../helpers/deployed-node.js';
import { checkRequest, EnvoyClient } from '../helpers/envoy-client.js';
import { RawH2Client } from '../helpers/raw-h2.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
/** The pod's memory limit (k8s/base/tollgate-container.yaml). */
const POD_LIMIT_MB = 384;
const IDLE_SECONDS = 2;
const MESSAGE_TIMEOUT_MS = 1000;

let child: ChildProcess;
let grpcPort: number;

/** The child's resident memory; Infinity once it is gone (killed by the heap limit, say). */
function rssMb(): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
  } catch {
    return Infinity;
  }
}

/** Checks on a connection of their own, one after another, until `until` settles: the latencies (ms). */
async function sample(until: Promise<unknown>): Promise<number[]> {
  const client = new EnvoyClient(grpcPort);
  const latencies: number[] = [];
  let done = false;
  void until.finally(() => (done = true));
  try {
    while (!done) {
      const start = performance.now();
      const response = await client.check(checkRequest({ path: '/anything' }));
      expect(response.status?.code ?? 0).toBe(0);
      latencies.push(performance.now() - start);
    }
  } finally {
    client.close();
  }
  return latencies;
}

const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)] ?? NaN;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-grpc-flood-'));
  const config = join(dir, 'tollgate.yaml');
  writeFileSync(
    config,
    stringify({
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0' },
      limits: { grpc: { connectionIdleSeconds: IDLE_SECONDS, messageTimeoutMs: MESSAGE_TIMEOUT_MS } },
      rules: [{ id: 'open', match: { paths: ['/**'] }, require: { anonymous: true } }],
    }),
  );
  // As a pod runs it: the deployed V8 flags, its own process.
  child = spawn(process.execPath, [...DEPLOYED_NODE_ARGS, CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  ({ grpcPort } = await waitForServing(child));
});

afterAll(() => {
  child?.kill('SIGKILL');
});

describe('the gRPC port under a hostile client', () => {
  it('survives 200,000 never-finished streams on one connection, under the pod memory limit, answering Checks meanwhile', async () => {
    const flood = await RawH2Client.connect(grpcPort);
    let maxRss = rssMb();
    const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, rssMb())), 50);
    const opening = flood.openUnfinished(200_000);
    const latencies = await sample(opening);
    const opened = await opening;
    clearInterval(rssTimer);
    maxRss = Math.max(maxRss, rssMb());
    console.info(
      `unfinished-stream flood: ${opened} streams written (connection open afterwards: ${flood.open}), max RSS ${maxRss.toFixed(0)} MB, ` +
        `sampler ${latencies.length} Checks, p99 ${p99(latencies).toFixed(1)} ms`,
    );
    flood.destroy();
    expect(child.exitCode).toBeNull();
    expect(maxRss).toBeLessThan(POD_LIMIT_MB);
    // A new connection gets a valid answer.
    const fresh = new EnvoyClient(grpcPort);
    expect((await fresh.check(checkRequest({ path: '/after' }))).status?.code ?? 0).toBe(0);
    fresh.close();
  }, 30_000);

  it('ends a call whose message never completes after limits.grpc.messageTimeoutMs', async () => {
    const client = await RawH2Client.connect(grpcPort);
    await client.openUnfinished(10);
    const started = Date.now();
    while (client.answered.size < 10 && Date.now() - started < MESSAGE_TIMEOUT_MS + 3000) await new Promise((r) => setTimeout(r, 50));
    client.destroy();
    expect(client.answered.size).toBe(10);
    expect(Date.now() - started).toBeGreaterThanOrEqual(MESSAGE_TIMEOUT_MS - 100);
  });

  it('closes connections that only sent the preface within limits.grpc.connectionIdleSeconds, with GOAWAY', async () => {
    const idle = await Promise.all(Array.from({ length: 200 }, () => RawH2Client.connect(grpcPort)));
    const started = Date.now();
    const closedAll = Promise.all(idle.map((c) => c.closed));
    const latencies = await sample(closedAll);
    const elapsed = (Date.now() - started) / 1000;
    console.info(`200 idle connections closed after ${elapsed.toFixed(1)} s; sampler p99 ${p99(latencies).toFixed(1)} ms`);
    expect(elapsed).toBeLessThan(IDLE_SECONDS * 2 + 1);
    expect(idle.every((c) => c.goaway)).toBe(true);
    expect(child.exitCode).toBeNull();
  });
});
