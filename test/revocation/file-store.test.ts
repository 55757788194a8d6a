import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBackend } from '../../src/revocation/file-backend.js';
import { createRevocationStore, parseRevocationConfig, type RevocationStore } from '../../src/revocation/index.js';
import { Mirror } from '../../src/revocation/mirror.js';
import { MirroredStore } from '../../src/revocation/store.js';
import { ManualClock, systemClock, type Clock } from '../../src/util/clock.js';
import { capturingDeps, testDeps, waitFor } from './helpers.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
let dir: string;
let path: string;
const open: RevocationStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-revocations-'));
  path = join(dir, 'data', 'revocations.log');
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function fileStore(clock: Clock = systemClock, deps = testDeps(clock)): Promise<RevocationStore> {
  const store = createRevocationStore(parseRevocationConfig({ store: 'file', path, defaultTtlSeconds: 3600 }), deps);
  await store.start();
  open.push(store);
  return store;
}

const logLines = (): string[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '');

describe('file revocation store', () => {
  it('persists revocations, unrevocations and refresh markers across restarts', async () => {
    const first = await fileStore();
    await first.revoke({ type: 'jti', value: 'j1', reason: 'leaked' });
    await first.revoke({ type: 'sid', value: 's1', reason: 'logout' });
    await first.revoke({ type: 'sub', value: 'alice', reason: 'compromised' });
    await first.unrevoke('sid', 's1');
    const marker = await first.markRefresh('bob');
    await first.stop();

    const second = await fileStore();
    expect(second.check({ jti: 'j1' })).toEqual({ revoked: 'jti' });
    expect(second.check({ sid: 's1' })).toEqual({ revoked: null, refresh: false });
    expect(second.check({ sub: 'alice', iat: 1 })).toEqual({ revoked: 'sub' });
    expect(second.check({ sub: 'bob', iat: 1 })).toEqual({ revoked: null, refresh: true });
    expect(second.listRefreshMarkers()).toEqual([marker]);
    expect(
      second
        .list()
        .map((e) => e.value)
        .sort(),
    ).toEqual(['alice', 'j1']);
  });

  it('acknowledges a revocation only after it was appended and then fdatasynced', async () => {
    // A datasync the test holds: kill -9 cannot show a missing fdatasync (the page cache survives the
    // process), so the test watches the order instead.
    const held: Array<{ logAtSync: string[]; release: () => void }> = [];
    let holding = false;
    const datasync = async (handle: FileHandle) => {
      if (holding) await new Promise<void>((release) => held.push({ logAtSync: logLines(), release }));
      await handle.datasync();
    };
    const deps = testDeps();
    const mirror = new Mirror();
    const store = new MirroredStore(
      new FileBackend(path, mirror, deps.clock, deps.logger, datasync),
      mirror,
      parseRevocationConfig({ store: 'file', path, defaultTtlSeconds: 3600 }),
      deps,
    );
    await store.start();
    open.push(store);

    holding = true;
    let acknowledged = false;
    const revoke = store.revoke({ type: 'jti', value: 'held', reason: 'x' }).then(() => (acknowledged = true));
    try {
      await waitFor('the write to reach datasync', () => held.length === 1, { timeoutMs: 5000 });
      expect(held[0]!.logAtSync.at(-1)).toContain('"value":"held"'); // appended before the sync
      // Every turn of the event loop gets its chance to run; still nothing is acknowledged or applied.
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(acknowledged).toBe(false);
      expect(store.check({ jti: 'held' })).toEqual({ revoked: null, refresh: false });
    } finally {
      holding = false;
      for (const sync of held) sync.release();
    }
    await revoke;
    expect(store.check({ jti: 'held' })).toEqual({ revoked: 'jti' });
    expect(held).toHaveLength(1);
  });

  it('survives kill -9 of the writing process: every acknowledged revocation is there after restart', async () => {
    const child = spawn(
      process.execPath,
      ['--import', new URL('register-ts.mjs', FIXTURES).pathname, new URL('file-writer.mjs', FIXTURES).pathname, path],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let acked = -1;
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          const match = /^acked (\d+)$/.exec(line);
          if (match) acked = Number(match[1]);
        }
        // Kill while it is writing as fast as it can: a write is likely in flight.
        if (acked >= 200) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
    });
    await exited;
    expect(child.signalCode).toBe('SIGKILL');

    const restarted = await fileStore();
    for (let i = 0; i <= acked; i++) expect(restarted.check({ jti: `jti-${i}` }), `jti-${i}`).toEqual({ revoked: 'jti' });
    // At most the one write in flight at the kill may have made it too; nothing beyond that.
    const count = restarted.status().entries;
    expect(count).toBeGreaterThanOrEqual(acked + 1);
    expect(count).toBeLessThanOrEqual(acked + 2);
  });

  it('tolerates a torn last record, drops it, and appends cleanly after it', async () => {
    const { deps, lines } = capturingDeps();
    const first = await fileStore();
    await first.revoke({ type: 'jti', value: 'kept', reason: 'x' });
    await first.stop();
    appendFileSync(path, '{"op":"revoke","entry":{"type":"jti","value":"torn","expi');

    const second = await fileStore(systemClock, deps);
    expect(second.check({ jti: 'kept' })).toEqual({ revoked: 'jti' });
    expect(second.check({ jti: 'torn' })).toEqual({ revoked: null, refresh: false });
    expect(lines.some((line) => line.includes('dropped a torn last record'))).toBe(true);
    await second.revoke({ type: 'jti', value: 'after', reason: 'x' });
    await second.stop();

    const third = await fileStore();
    expect(
      third
        .list()
        .map((e) => e.value)
        .sort(),
    ).toEqual(['after', 'kept']);
    expect(logLines().every((line) => JSON.parse(line) !== undefined)).toBe(true);
  });

  it('tolerates a zero-filled tail (size extended, data never written)', async () => {
    const first = await fileStore();
    await first.revoke({ type: 'jti', value: 'kept', reason: 'x' });
    await first.stop();
    appendFileSync(path, Buffer.alloc(40));
    const second = await fileStore();
    expect(second.list().map((e) => e.value)).toEqual(['kept']);
  });

  it('refuses to start on a corrupt record followed by valid ones, naming file and line', async () => {
    const first = await fileStore();
    await first.revoke({ type: 'jti', value: 'a', reason: 'x' });
    await first.revoke({ type: 'jti', value: 'b', reason: 'x' });
    await first.stop();
    const [header, a, b] = logLines();
    writeFileSync(path, [header, a, 'garbage', b, ''].join('\n'));
    const store = createRevocationStore(parseRevocationConfig({ store: 'file', path }), testDeps());
    await expect(store.start()).rejects.toThrow(`${path} line 3: not a valid record`);
  });

  it('refuses to touch a file that is not a revocation log', async () => {
    writeFileSync(path.replace('data/revocations.log', 'notes.txt'), 'hello\nworld');
    const store = createRevocationStore(parseRevocationConfig({ store: 'file', path: join(dir, 'notes.txt') }), testDeps());
    await expect(store.start()).rejects.toThrow('is not a tollgate revocation log');
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('hello\nworld');
  });

  it('expired entries disappear, and compaction keeps live entries only', async () => {
    const clock = new ManualClock(Date.UTC(2025, 0, 31, 12));
    const store = await fileStore(clock);
    const now = clock.now() / 1000;
    await store.revoke({ type: 'jti', value: 'long', reason: 'x' });
    await store.revoke({ type: 'sub', value: 'alice', reason: 'x' });
    await store.markRefresh('bob');
    for (let i = 0; i < 20; i++) await store.revoke({ type: 'jti', value: `short-${i}`, expiresAt: now + 60, reason: 'x' });
    clock.advance(61_000);
    expect(store.check({ jti: 'short-0' })).toEqual({ revoked: null, refresh: false });
    expect(store.list()).toHaveLength(2);
    // Churn: revoke and unrevoke until the log is long enough to be worth compacting.
    for (let i = 0; i < 60; i++) {
      await store.revoke({ type: 'jti', value: `churn-${i}`, reason: 'x' });
      await store.unrevoke('jti', `churn-${i}`);
    }
    const lines = logLines();
    expect(lines.length).toBeLessThan(100); // 143 records were written
    expect(lines.some((line) => line.includes('short-'))).toBe(false);
    await store.stop();

    const reopened = await fileStore(clock);
    expect(
      reopened
        .list()
        .map((e) => e.value)
        .sort(),
    ).toEqual(['alice', 'long']);
    expect(reopened.check({ sub: 'bob', iat: now - 1 })).toEqual({ revoked: null, refresh: true });
    expect(reopened.check({ jti: 'churn-59' })).toEqual({ revoked: null, refresh: false });
  });

  it('a failed write is an error to the caller and is not applied', async () => {
    const store = await fileStore();
    await store.revoke({ type: 'jti', value: 'before', reason: 'x' });
    // Close the log and take its directory away: the next write has to reopen the file and cannot.
    await store.stop();
    rmSync(join(dir, 'data'), { recursive: true, force: true });
    await expect(store.revoke({ type: 'jti', value: 'lost', reason: 'x' })).rejects.toThrow(
      /could not write .*revocations\.log.*the change was not applied/,
    );
    expect(store.check({ jti: 'lost' })).toEqual({ revoked: null, refresh: false });
    expect(store.status().up).toBe(false);
  });
});
