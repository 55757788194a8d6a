// Starting the servers under test: tollgate (`node dist/cli.js serve --config FILE`, exactly what a
// user runs) and the no-op baseline. Both listen on 127.0.0.1 only, on ports picked here.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkOnce } from './client.mjs';
import { writeConfig } from './config/generate.mjs';
import { freePort, spawnNode, stop, waitFor } from './proc.mjs';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const CONTAINER = fileURLToPath(new URL('../k8s/base/tollgate-container.yaml', import.meta.url));

/**
 * The V8 flags tollgate runs with when deployed (NODE_OPTIONS in k8s/base/tollgate-container.yaml). The
 * memory scenario runs with and without them: the old-space cap keeps RSS near the live data, where V8
 * on a large machine otherwise lets the heap grow far past it, and costs CPU on the hot path.
 */
export const DEPLOYED_NODE_ARGS = (/NODE_OPTIONS, value: ([^}]+?) \}/.exec(readFileSync(CONTAINER, 'utf8'))?.[1] ?? '')
  .split(' ')
  .filter(Boolean);
const NOOP = fileURLToPath(new URL('./noop-server.mjs', import.meta.url));

/** Starts tollgate with a generated config; resolves once /readyz answers 200. */
export async function startTollgate(dir, name, configOptions, { nodeArgs = [], env, cgroup } = {}) {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const authzPort = await freePort();
  const configPath = writeConfig(dir, name, { ...configOptions, grpcPort, httpPort, authzPort });
  const logFile = path.join(dir, `${name}.log`);
  const child = spawnNode(CLI, ['serve', '--config', configPath], { nodeArgs, logFile, cwd: dir, env, cgroup });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200, `tollgate (${name}) /readyz`, {
      child,
      timeoutMs: 30_000,
    });
  } catch (err) {
    await stop(child);
    throw new Error(`${err.message}; see its log ${logFile}`, { cause: err });
  }
  return { name, child, pid: child.pid, grpcPort, httpPort, authzPort, logFile, stop: () => stop(child) };
}

/** Starts the no-op grpc-js Check server; resolves once it answers a Check. `name` names its log file. */
export async function startNoop(dir, probeFrame, { nodeArgs = [], cgroup, name = 'noop' } = {}) {
  const grpcPort = await freePort();
  const logFile = path.join(dir, `${name}.log`);
  const child = spawnNode(NOOP, [String(grpcPort)], { nodeArgs, logFile, cgroup });
  await waitFor(async () => (await checkOnce(grpcPort, probeFrame, 1000)).code === 0, 'noop server', { child });
  return { name, child, pid: child.pid, grpcPort, logFile, stop: () => stop(child) };
}
