import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyManager } from '../../src/keys/index.js';
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
