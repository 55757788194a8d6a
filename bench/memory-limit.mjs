// The pod's memory limit, applied to a measured process as Kubernetes applies it: a memory cgroup.
//
// Why: node sizes V8's heap from the memory it may use (libuv reads the cgroup limit; node passes
// it to V8 when no --max-old-space-size is given). On a host without a limit V8 gets a heap limit of
// a quarter of the RAM (4 GB here) and a 16 MB semi-space, and lets garbage pile up far past the live
// data; in a pod with the manifest's limit the same node, on its defaults, sizes the heap to the pod.
// Measuring memory "with node's defaults" on the bench host alone would describe no deployment.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTAINER = fileURLToPath(new URL('../k8s/base/tollgate-container.yaml', import.meta.url));
const UNITS = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };

/** The container's memory limit in k8s/base (`limits: { memory: 384Mi }`), in bytes. */
function podMemoryLimitBytes() {
  const match = /limits:\s*\{\s*memory:\s*(\d+)(Ki|Mi|Gi)\s*\}/.exec(readFileSync(CONTAINER, 'utf8'));
  if (!match) throw new Error(`no "limits: { memory: <n>Mi }" in ${CONTAINER}`);
  return Number(match[1]) * UNITS[match[2]];
}

/**
 * Creates a memory cgroup below this process's own with `bytes` as its limit. Resolves to
 * `{ dir, dispose }`, or `{ reason }` when this machine does not allow it (not root, no writable
 * memory controller): the caller then measures without the limit and says so.
 */
function createMemoryCgroup(bytes, name) {
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const v1 = own.map((line) => /^\d+:([^:]*):(.*)$/.exec(line)).find((m) => m && m[1].split(',').includes('memory'));
  const v2 = own.map((line) => /^0::(.*)$/.exec(line)).find(Boolean);
  const attempts = [];
  if (v1) attempts.push({ base: path.join('/sys/fs/cgroup/memory', v1[2]), limitFile: 'memory.limit_in_bytes' });
  if (v2) attempts.push({ base: path.join('/sys/fs/cgroup', v2[1]), limitFile: 'memory.max' });
  const reasons = [];
  for (const { base, limitFile } of attempts) {
    const dir = path.join(base, `${name}-${process.pid}`);
    try {
      mkdirSync(dir);
    } catch (err) {
      reasons.push(`${dir}: ${err.code ?? err.message}`);
      continue;
    }
    try {
      writeFileSync(path.join(dir, limitFile), String(bytes));
      if (Number(readFileSync(path.join(dir, limitFile), 'utf8')) !== bytes) throw new Error(`${limitFile} did not take the limit`);
    } catch (err) {
      rmdirSync(dir);
      reasons.push(`${dir}: ${err.code ?? err.message}`);
      continue;
    }
    return { dir, dispose: () => rmdirSync(dir) };
  }
  return { reason: reasons.join('; ') || 'no memory cgroup in /proc/self/cgroup' };
}

/**
 * A memory cgroup with the pod's limit, or the reason there is none (then logged: the caller measures
 * without it). `limit` describes it for the report; `dir` is undefined without one; `dispose` always works.
 */
export function podMemoryCgroup(name, log) {
  const bytes = podMemoryLimitBytes();
  const cgroup = createMemoryCgroup(bytes, name);
  if (cgroup.reason) log(`${name}: cannot apply the pod's memory limit here (${cgroup.reason}); measuring without it`);
  return {
    dir: cgroup.dir,
    limit: { bytes, applied: !cgroup.reason, reason: cgroup.reason },
    dispose: () => cgroup.dispose?.(),
  };
}
