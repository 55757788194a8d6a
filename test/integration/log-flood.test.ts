import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { waitForServing } from '../helpers/cli-process.js';
import { DEPLOYED_NODE_ARGS } from '../helpers/deployed-node.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
const POD_LIMIT_MB = 384;
const DRAIN_SECONDS = 2;

let child: ChildProcess | undefined;
afterAll(() => child?.kill('SIGKILL'));

function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
  } catch {
    return Infinity;
  }
}

describe('a flood of client-triggered log lines while stdout does not keep up', () => {
  it('unauthenticated /admin/ requests with 15,000-byte paths: bounded memory, capped lines, SIGTERM exits within drainSeconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-log-flood-'));
    writeFileSync(join(dir, 'admin-token'), 'an-admin-secret-of-at-least-32-bytes-long');
    const config = join(dir, 'tollgate.yaml');
    writeFileSync(
      config,
      stringify({
        listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0' },
        revocation: { store: 'memory' },
        admin: { tokenFile: 'admin-token' },
        shutdown: { notServingSeconds: 0, drainSeconds: DRAIN_SECONDS },
      }),
    );
    child = spawn(process.execPath, [...DEPLOYED_NODE_ARGS, CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'ignore'] });
    const { httpPort } = await waitForServing(child);
    // From here on nobody reads the child's stdout: the pipe fills and stays full.
    child.stdout!.pause();
    const pid = child.pid!;
    const path = `/admin/${'A'.repeat(15_000)}`;
    const until = Date.now() + 4000;
    let maxRss = rssMb(pid);
    let requests = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < until) {
          const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
          await res.arrayBuffer();
          expect(res.status).toBe(401);
          requests++;
          if (requests % 50 === 0) maxRss = Math.max(maxRss, rssMb(pid));
        }
      }),
    );
    maxRss = Math.max(maxRss, rssMb(pid));
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const skipped = Number(/^tollgate_admin_audit_lines_skipped_total (\d+)/m.exec(metrics)?.[1]);
    console.info(
      `${requests} refused admin requests in 4 s with stdout stalled: max RSS ${maxRss.toFixed(0)} MB, ${skipped} audit lines skipped`,
    );
    expect(maxRss).toBeLessThan(POD_LIMIT_MB / 2);
    expect(skipped).toBeGreaterThan(0);

    const stopped = Date.now();
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((Date.now() - stopped) / 1000).toBeLessThan(DRAIN_SECONDS + 1);
  }, 20_000);
});
