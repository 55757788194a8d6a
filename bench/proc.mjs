// Child processes for the bench: every one is tracked and killed when the bench exits, node
// children also carry bench/guard.mjs (they end themselves if the bench dies), and h2load runs
// get a hard timeout. Plus /proc readings (CPU time, RSS) and small waiting helpers.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const GUARD = fileURLToPath(new URL('./guard.mjs', import.meta.url));
const children = new Set();

/**
 * The node the measured processes run on (tollgate, the no-op baseline, the verification ceiling):
 * `--node PATH`, else the bench's own. The load generators stay on the bench's node, so two runs that
 * differ only in --node differ only in the runtime under test.
 */
export const serverNode = { path: process.execPath, version: process.version };

/** Makes `path` the servers' node (bench `--node`); fails unless it runs and reports a version. */
export function useServerNode(path) {
  const probe = spawnSync(path, ['--version'], { encoding: 'utf8' });
  const version = probe.stdout?.trim();
  if (probe.status !== 0 || !/^v\d+\.\d+\.\d+/.test(version ?? '')) {
    throw new Error(
      `--node ${path}: not a working node binary (${probe.error?.message ?? (probe.stderr?.trim() || `exit ${probe.status}`)})`,
    );
  }
  Object.assign(serverNode, { path, version });
}

function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

function track(child) {
  children.add(child);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('exit', () => children.delete(child));
  return child;
}

/** The longest a whole bench may run; a process it starts outlives it by no more than this either. */
export const MAX_RUN_SECONDS = 20 * 60;

/**
 * Starts `node [nodeArgs] script args` on the servers' node with the guard preloaded, inside the memory cgroup
 * directory `cgroup` if given. stdout/stderr go to `logFile` (appended), never to a pipe the bench would have to drain.
 */
export function spawnNode(script, args, { nodeArgs = [], logFile, maxSeconds = MAX_RUN_SECONDS, cwd, env = {}, cgroup } = {}) {
  const fd = logFile ? openSync(logFile, 'a') : 'ignore';
  const argv = [serverNode.path, '--import', GUARD, ...nodeArgs, script, ...args];
  // In a cgroup (bench/memory-limit.mjs): a shell joins it, then execs node, so node starts inside it
  // (V8's heap is sized at start-up) and keeps the pid the bench watches.
  const [command, ...commandArgs] = cgroup ? ['/bin/sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv] : argv;
  const child = spawn(command, commandArgs, {
    stdio: ['ignore', fd, fd],
    cwd,
    env: { ...process.env, ...env, BENCH_GUARD_PARENT: String(process.pid), BENCH_GUARD_MAX_S: String(maxSeconds) },
  });
  return track(child);
}

/** Runs a command to completion; resolves { code, stdout, stderr }. Killed after `timeoutMs`. */
export function run(command, args, { timeoutMs = 120_000, nodeGuard = false } = {}) {
  const argv = nodeGuard ? ['--import', GUARD, ...args] : args;
  const child = track(
    spawn(command, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BENCH_GUARD_PARENT: String(process.pid), BENCH_GUARD_MAX_S: String(Math.ceil(timeoutMs / 1000) + 5) },
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs a node script (guarded; on the bench's node unless `node` says otherwise) and parses the last line of its stdout as JSON. */
export async function runNodeJson(script, args, timeoutMs, { node = process.execPath } = {}) {
  const result = await run(node, [script, ...args], { timeoutMs, nodeGuard: true });
  const line = result.stdout.trim().split('\n').at(-1);
  if (result.code !== 0 || !line)
    throw new Error(`${script} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim().slice(0, 800)}`);
  return JSON.parse(line);
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stop(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** A port free on 127.0.0.1 right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `probe()` resolves truthy; throws `what` after `timeoutMs`, or when `child` exits. */
export async function waitFor(probe, what, { timeoutMs = 20_000, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${what}: the process exited (${child.exitCode ?? child.signalCode})`);
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(100);
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms${lastError ? ` (${lastError.message})` : ''}`);
}

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on Linux x86-64 and arm64

/** CPU time (user + system) the process has used, in microseconds, from /proc/<pid>/stat. */
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
}

/** { rssMB, hwmMB } from /proc/<pid>/status. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024 };
}

/**
 * Where a process's resident pages are, from /proc/<pid>/smaps, in MB: the node binary's own pages,
 * other files (shared libraries), glibc's main `[heap]`, thread stacks, and the rest of the anonymous
 * memory (V8's heap pages, other malloc arenas, buffers). V8's share of the last is in its heap
 * statistics (`memoryAfterGc`).
 */
export function residentBreakdown(pid) {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const sums = { binary: 0, files: 0, mallocHeap: 0, stacks: 0, anonymous: 0 };
  let bucket = 'anonymous';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (mapping) {
      bucket = bucketOf(mapping[1], exe);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) sums[bucket] += Number(rss[1]) / 1024;
  }
  return sums;
}

/** Which `residentBreakdown` sum a mapping's pathname (empty for anonymous memory) counts in. */
function bucketOf(name, exe) {
  if (name === exe) return 'binary';
  if (name === '[heap]') return 'mallocHeap';
  if (name.startsWith('[stack')) return 'stacks';
  return name.startsWith('/') ? 'files' : 'anonymous';
}

/**
 * Asks a process started with --expose-gc and env BENCH_MEMFILE (see guard.mjs) for a full GC and
 * its memory use; resolves { rssMB, heapUsedMB, externalMB } after the GC, plus rssBeforeMB.
 */
export async function memoryAfterGc(child, memFile) {
  const { existsSync, rmSync } = await import('node:fs');
  rmSync(memFile, { force: true });
  child.kill('SIGUSR2');
  await waitFor(() => existsSync(memFile) && readFileSync(memFile, 'utf8').length > 0, 'memory probe', { timeoutMs: 10_000, child });
  await sleep(50);
  const { before, after, spaces, heapResident, mallocedByV8, gc } = JSON.parse(readFileSync(memFile, 'utf8'));
  if (!gc) throw new Error('memory probe: the process was not started with --expose-gc');
  const mb = (x) => x / 2 ** 20;
  return {
    rssBeforeMB: mb(before.rss),
    rssMB: mb(after.rss),
    heapUsedMB: mb(after.heapUsed),
    heapTotalMB: mb(after.heapTotal),
    externalMB: mb(after.external + after.arrayBuffers),
    heapResidentMB: mb(heapResident),
    mallocedByV8MB: mb(mallocedByV8),
    spaces,
  };
}
