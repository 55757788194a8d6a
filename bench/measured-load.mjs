// One run of the node load generator (bench/load-node.mjs) against a tollgate, with what the server
// did over it: its CPU time and its decisions (from /metrics), so a caller can divide one by the other.
import { fileURLToPath } from 'node:url';
import { decisionCounts, diffCounts } from './client.mjs';
import { cpuMicros, runNodeJson } from './proc.mjs';

const LOAD_NODE = fileURLToPath(new URL('./load-node.mjs', import.meta.url));

/** `args`: load-node.mjs's own (frames, duration or count, connections, streams), the port aside. */
export async function measuredLoad(server, args, timeoutMs) {
  const before = await decisionCounts(server.httpPort);
  const cpuBefore = cpuMicros(server.pid);
  const load = await runNodeJson(LOAD_NODE, ['--port', String(server.grpcPort), ...args], timeoutMs);
  const cpu = cpuMicros(server.pid) - cpuBefore;
  const decisions = diffCounts(await decisionCounts(server.httpPort), before);
  return { load, cpu, decisions };
}
