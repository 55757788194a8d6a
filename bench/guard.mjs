// Preloaded (node --import) into every process the bench starts, tollgate included: the process
// ends itself when the bench that started it is gone, or after BENCH_GUARD_MAX_S seconds.
// SIGTERM first (tollgate drains and, under --cpu-prof, writes its profile), a hard exit 5 s later.
import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

const parent = Number(process.env.BENCH_GUARD_PARENT ?? process.ppid);
const maxSeconds = Number(process.env.BENCH_GUARD_MAX_S ?? 600);

function end(why) {
  process.stderr.write(`bench guard: ${why}; stopping pid ${process.pid}\n`);
  setTimeout(() => process.exit(1), 5000).unref();
  process.kill(process.pid, 'SIGTERM');
}

function parentAlive() {
  try {
    process.kill(parent, 0);
    return process.ppid === parent;
  } catch {
    return false;
  }
}

setInterval(() => {
  if (!parentAlive()) end('the bench process is gone');
}, 1000).unref();
setTimeout(() => end(`running longer than ${maxSeconds}s`), maxSeconds * 1000).unref();

// Memory probe (memory scenario only): with --expose-gc and BENCH_MEMFILE set, SIGUSR2 runs a full
// GC and writes process.memoryUsage() to that file, so the bench can tell live data from GC slack.
if (process.env.BENCH_MEMFILE) {
  process.on('SIGUSR2', () => {
    const before = process.memoryUsage();
    globalThis.gc?.();
    const heap = getHeapStatistics();
    writeFileSync(
      process.env.BENCH_MEMFILE,
      JSON.stringify({
        before,
        after: process.memoryUsage(),
        spaces: getHeapSpaceStatistics().map((s) => ({
          name: s.space_name,
          sizeMB: s.space_size / 2 ** 20,
          usedMB: s.space_used_size / 2 ** 20,
        })),
        // Pages V8's heap holds resident, and what V8 itself allocated with malloc (zones, code).
        heapResident: heap.total_physical_size,
        mallocedByV8: heap.malloced_memory,
        gc: typeof globalThis.gc === 'function',
      }),
    );
  });
}
