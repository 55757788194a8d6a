// @ts-check
/**
 * The decision log's writer thread. It alone touches the sink's file descriptor, with blocking writes:
 * when the sink stalls (a pipe nobody reads, a full disk, a FIFO without a reader) this thread waits,
 * the main thread's bounded queue fills and lines are dropped there, and Check never waits.
 * Plain JavaScript so the same file runs from the sources (tests) and from dist.
 */
import { openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/** @type {{ sink: 'stdout' | 'file', path?: string }} */
const { sink, path } = workerData;
/** Opened at the first batch: opening a FIFO blocks until a reader appears, and only this thread may wait. */
let fd = -1;
/** For Atomics.wait: a short pause when a non-blocking descriptor answers EAGAIN. */
const pause = new Int32Array(new SharedArrayBuffer(4));
const port = parentPort;
if (!port) throw new Error('decision-log-writer runs as a worker thread');

port.on('message', (/** @type {{ text: string, count: number }} */ batch) => {
  try {
    if (fd < 0) fd = sink === 'file' && path ? openSync(path, 'a') : 1;
    for (const chunk of chunks(batch.text)) writeAll(fd, Buffer.from(chunk, 'utf8'));
    port.postMessage({ written: batch.count });
  } catch (err) {
    const code = /** @type {NodeJS.ErrnoException} */ (err).code ?? 'write failed';
    port.postMessage({ failed: batch.count, code });
  }
});

/**
 * POSIX writes up to PIPE_BUF (4096) bytes to a pipe in one piece, so lines grouped into chunks of
 * at most that size never interleave with the ordinary log's lines when both go to stdout.
 * @param {string} text whole lines, each ending in a newline
 */
function* chunks(text) {
  let start = 0;
  while (start < text.length) {
    const lineEnd = (/** @type {number} */ from) => text.indexOf('\n', from) + 1 || text.length;
    let end = lineEnd(start);
    for (let next = lineEnd(end); end < text.length && Buffer.byteLength(text.slice(start, next)) <= PIPE_BUF; next = lineEnd(end))
      end = next;
    yield text.slice(start, end);
    start = end;
  }
}

const PIPE_BUF = 4096;

/** @param {number} target @param {Buffer} bytes */
function writeAll(target, bytes) {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(target, bytes, offset);
    } catch (err) {
      // stdout may be non-blocking (libuv sets pipes so): wait for room instead of spinning.
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}
