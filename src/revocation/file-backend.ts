import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import type { Backend } from './backend.js';
import { storeOpSchema, type StoreOp } from './entries.js';
import type { Mirror } from './mirror.js';
import { errorMessage, RevocationStoreUnavailableError } from './types.js';

/** First line of every log: refuses to "repair" (truncate) a file that is not ours. */
const HEADER = '{"tollgate":"revocation-log","version":1}\n';
/** Compact once the log holds this many records more than twice the live set: amortised O(1) per write. */
const COMPACT_SLACK = 64;

/** Flushes a file's data to the disk; fdatasync(2) unless a test holds it to watch what waits on it. */
export type Datasync = (handle: FileHandle) => Promise<void>;
const fdatasync: Datasync = (handle) => handle.datasync();

/**
 * Revocations in memory, persisted as an append-only JSON-lines log of StoreOps. Every change is
 * written and fdatasync'd before it is applied or acknowledged, so a crash (kill -9, power loss)
 * loses nothing that was answered. A crash in the middle of a write leaves a torn last line, which
 * start() drops. One process per file: the log is not locked against a second writer.
 */
export class FileBackend implements Backend {
  private handle: FileHandle | undefined;
  /** Bytes of header plus complete, synced records: where a failed write's leftovers are cut off. */
  private size = 0;
  /** Records (ops) in the log, live or not; drives compaction. */
  private records = 0;
  /** A failed write may have left bytes after `size`; the next write cuts them off. */
  private dirtyTail = false;
  private lastWriteFailed = false;
  /** Serialises writes and compaction: records never interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly mirror: Mirror,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly datasync: Datasync = fdatasync,
  ) {}

  async start(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const { ops, goodEnd, fileSize } = await this.load();
    this.mirror.replaceAll([], []);
    const now = this.clock.now();
    for (const op of ops) this.mirror.apply(op, now);
    this.handle = await open(this.path, 'a');
    this.size = goodEnd;
    this.records = ops.length;
    if (goodEnd < fileSize) {
      this.logger.warn(
        { path: this.path, droppedBytes: fileSize - goodEnd },
        'revocation: dropped a torn last record (a write was interrupted by a crash)',
      );
      await this.handle.truncate(goodEnd);
      await this.datasync(this.handle);
    }
    this.logger.info({ path: this.path, records: ops.length, live: this.mirror.size }, 'revocation: log loaded');
    await this.compactIfWorthIt();
  }

  async stop(): Promise<void> {
    await this.serialize(async () => {
      await this.handle?.close();
      this.handle = undefined;
    });
  }

  write(op: StoreOp): Promise<boolean> {
    return this.serialize(async () => {
      if (op.op === 'unrevoke' && this.mirror.get(op.type, op.value, this.clock.now()) === undefined) return false;
      const record = Buffer.from(`${JSON.stringify(op)}\n`);
      try {
        const handle = await this.open();
        // Never append after a torn record: it would sit mid-log, where start() refuses it as corruption.
        if (this.dirtyTail) await handle.truncate(this.size);
        this.dirtyTail = false;
        await appendAll(handle, record);
        await this.datasync(handle);
      } catch (err) {
        this.dirtyTail = true;
        this.lastWriteFailed = true;
        throw new RevocationStoreUnavailableError(
          `revocation: could not write ${this.path}: ${errorMessage(err)}; the change was not applied`,
        );
      }
      this.size += record.length;
      this.records++;
      this.lastWriteFailed = false;
      const changed = this.mirror.apply(op, this.clock.now());
      try {
        await this.compactIfWorthIt();
      } catch (err) {
        // The record is durable; a failed compaction only leaves the log longer. Retried on the next sweep.
        this.logger.error({ path: this.path, err: errorMessage(err) }, 'revocation: compaction failed');
      }
      return changed;
    });
  }

  health(): { up: boolean; staleSinceMs: number | null } {
    // The mirror is the authoritative copy of this log, so it is never stale; a failing disk shows as down.
    return { up: !this.lastWriteFailed, staleSinceMs: null };
  }

  maintain(): Promise<void> {
    return this.serialize(() => this.compactIfWorthIt());
  }

  private async compactIfWorthIt(): Promise<void> {
    const now = this.clock.now();
    this.mirror.sweep(now);
    const live = this.mirror.size + this.mirror.counts().refresh;
    if (this.records > 2 * live + COMPACT_SLACK) await this.compact(now);
  }

  /** Rewrite the log with only live entries and markers: write a temp file, fsync, rename, fsync the dir. */
  private async compact(now: number): Promise<void> {
    const ops: StoreOp[] = [
      ...this.mirror.list(now).map((entry): StoreOp => ({ op: 'revoke', entry })),
      ...this.mirror.refreshMarkers(now).map((marker): StoreOp => ({ op: 'refresh', marker })),
    ];
    const content = Buffer.from(HEADER + ops.map((op) => `${JSON.stringify(op)}\n`).join(''));
    const temp = `${this.path}.compact`;
    const out = await open(temp, 'w', 0o600);
    try {
      await out.writeFile(content);
      await this.datasync(out);
    } finally {
      await out.close();
    }
    await rename(temp, this.path);
    await fsyncDir(dirname(this.path));
    const previous = this.handle;
    this.handle = undefined;
    await previous?.close();
    this.size = content.length;
    this.records = ops.length;
    this.dirtyTail = false;
    this.logger.info({ path: this.path, records: ops.length }, 'revocation: log compacted');
  }

  private async open(): Promise<FileHandle> {
    this.handle ??= await open(this.path, 'a');
    return this.handle;
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Parse the log. Invalid records are tolerated only at the end (a torn write); an invalid record
   * followed by valid ones is corruption, and start() refuses rather than silently drop a revocation.
   */
  private async load(): Promise<{ ops: StoreOp[]; goodEnd: number; fileSize: number }> {
    let data: Buffer;
    try {
      data = await readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      data = Buffer.alloc(0);
    }
    const headerEnd = data.indexOf(0x0a);
    if (headerEnd === -1 && HEADER.startsWith(data.toString('utf8'))) {
      // New file, or a crash while creating it: nothing was ever acknowledged from it.
      await this.create();
      return { ops: [], goodEnd: HEADER.length, fileSize: HEADER.length };
    }
    if (data.toString('utf8', 0, headerEnd + 1) !== HEADER) {
      throw new Error(`revocation: ${this.path} is not a tollgate revocation log (unexpected first line); refusing to modify it`);
    }
    const ops: StoreOp[] = [];
    let goodEnd = headerEnd + 1;
    let firstBadLine: number | undefined;
    let lineNumber = 1;
    for (let offset = goodEnd; offset < data.length;) {
      const newline = data.indexOf(0x0a, offset);
      if (newline === -1) break; // torn: the write never reached its newline
      lineNumber++;
      const text = data.toString('utf8', offset, newline);
      offset = newline + 1;
      if (text.trim() === '') continue;
      const op = parseRecord(text);
      if (op === undefined) {
        firstBadLine ??= lineNumber;
        continue;
      }
      if (firstBadLine !== undefined) {
        throw new Error(
          `revocation: ${this.path} line ${firstBadLine}: not a valid record, yet valid records follow it; ` +
            'the log is corrupt (inspect the line, fix or delete it, then restart)',
        );
      }
      ops.push(op);
      goodEnd = offset;
    }
    return { ops, goodEnd, fileSize: data.length };
  }

  private async create(): Promise<void> {
    const out = await open(this.path, 'w', 0o600);
    try {
      await out.writeFile(HEADER);
      await this.datasync(out);
    } finally {
      await out.close();
    }
    await fsyncDir(dirname(this.path));
  }
}

function parseRecord(text: string): StoreOp | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = storeOpSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** The file is opened in append mode, so each write lands at the end even if another process wrote. */
async function appendAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let written = 0; written < data.length;) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, null);
    written += bytesWritten;
  }
}

/** A rename or a new file is durable only once its directory entry is. */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
