import { appendFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyManager } from '../../src/keys/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { codeOf, harness, jwks, makeKey, stopManagers, type TestKey } from './helpers.js';

let dir: string;
let k1: TestKey;
let k2: TestKey;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-file-'));
  [k1, k2] = await Promise.all([makeKey('ES256', 'k1'), makeKey('ES256', 'k2')]);
});
afterEach(async () => {
  stopManagers();
  await rm(dir, { recursive: true, force: true });
});

const changed = (manager: KeyManager) =>
  new Promise<void>((resolve) => {
    const off = manager.onChange(() => {
      off();
      resolve();
    });
  });

describe('file source', () => {
  it('picks up replaced file content through the directory watch', async () => {
    const file = join(dir, 'jwks.json');
    await writeFile(file, JSON.stringify(jwks(k1)));
    const { manager } = harness({ file });
    await manager.start();
    expect(manager.status()).toMatchObject({ ready: true, keys: 1 });

    const next = changed(manager);
    await writeFile(file, JSON.stringify(jwks(k2)));
    await next;
    expect((await manager.getKey({ alg: 'ES256', kid: 'k2' })).id).toMatch(/^k2#/);
    expect(await codeOf(manager.getKey({ alg: 'ES256', kid: 'k1' }))).toBe('unknown_key');
  });

  it('picks up a Kubernetes ConfigMap-style ..data symlink swap', async () => {
    await mkdir(join(dir, '..2026_01_01_00_00_00.1'));
    await writeFile(join(dir, '..2026_01_01_00_00_00.1', 'jwks.json'), JSON.stringify(jwks(k1)));
    await symlink('..2026_01_01_00_00_00.1', join(dir, '..data'));
    await symlink('..data/jwks.json', join(dir, 'jwks.json'));
    const { manager } = harness({ file: join(dir, 'jwks.json') });
    await manager.start();
    expect((await manager.getKey({ alg: 'ES256', kid: 'k1' })).id).toMatch(/^k1#/);

    const next = changed(manager);
    await mkdir(join(dir, '..2026_01_02_00_00_00.2'));
    await writeFile(join(dir, '..2026_01_02_00_00_00.2', 'jwks.json'), JSON.stringify(jwks(k2)));
    await symlink('..2026_01_02_00_00_00.2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap kubelet does
    await next;
    expect((await manager.getKey({ alg: 'ES256', kid: 'k2' })).id).toMatch(/^k2#/);
    expect(manager.status().keys).toBe(1);
  });

  it('keeps the last good set when the file turns invalid, and an unknown kid reads nothing', async () => {
    const file = join(dir, 'jwks.json');
    await writeFile(file, JSON.stringify(jwks(k1)));
    const { manager } = harness({ file });
    await manager.start();

    await writeFile(file, '{"keys": [ truncated');
    await expect(manager.refresh()).rejects.toThrow(/not valid JSON/);
    expect(manager.status()).toMatchObject({ ready: true, stale: true, keys: 1 });
    expect((await manager.getKey({ alg: 'ES256', kid: 'k1' })).id).toMatch(/^k1#/);
    expect(await codeOf(manager.getKey({ alg: 'ES256', kid: 'k2' }))).toBe('unknown_key');

    await rm(file);
    await expect(manager.refresh()).rejects.toThrow(/ENOENT/);
    expect(manager.status().ready).toBe(true);
  });
});

describe('file source watch loop', () => {
  it('stays quiet when the key file is missing and its directory receives the log', async () => {
    const file = join(dir, 'jwks.json'); // mistyped: nothing there yet
    const logFile = join(dir, 'tollgate.log');
    const lines: Record<string, unknown>[] = [];
    // The logger writes into the watched directory, as `tollgate serve >> dir/tollgate.log` does.
    const logger = createLogger('info', {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
        appendFileSync(logFile, line);
      },
    });
    const { manager, registry } = harness({ file }, {}, { logger });
    await manager.start();
    // Other files in the directory change: none of them is a reason to re-read the key file.
    for (let i = 0; i < 20; i++) await writeFile(join(dir, 'other.txt'), String(i));

    const loaded = changed(manager);
    await writeFile(file, JSON.stringify(jwks(k1)));
    await loaded;
    const refreshes = await registry.getSingleMetricAsString('tollgate_jwks_refresh_total');
    expect(refreshes).toContain('tollgate_jwks_refresh_total{provider="idp",result="error"} 1');
    const warnings = lines.filter((l) => String(l.msg).startsWith('jwks: refresh failed'));
    expect(warnings).toHaveLength(1);
    // Nothing was ever loaded: there is no "last good key set" to keep.
    expect(warnings[0]!.msg).toBe("jwks: refresh failed; no key set loaded yet: this provider's tokens are refused");
  });

  it('logs a repeated refresh failure once, then once per minute with the count of repeats', async () => {
    const file = join(dir, 'jwks.json');
    await writeFile(file, JSON.stringify(jwks(k1)));
    const { manager, clock, logs } = harness({ file });
    await manager.start();
    await writeFile(file, 'not json');
    for (let i = 0; i < 5; i++) await manager.refresh().catch(() => undefined);
    const warnings = () => logs.filter((l) => String(l.msg).startsWith('jwks: refresh failed'));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.msg).toBe('jwks: refresh failed; keeping the last good key set');

    clock.advance(60_000);
    await manager.refresh().catch(() => undefined);
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ repeated: 4 });
  });
});
