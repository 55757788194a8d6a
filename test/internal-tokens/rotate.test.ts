import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rotateKeys } from '../../src/internal-tokens/rotate.js';
import { runKeys } from '../../src/cli/keys.js';
import { UsageError } from '../../src/cli/io.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('tollgate keys rotate', () => {
  it('adds a private JWK with kid, alg and created, and prunes a key only once no token it signed can be valid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-rotate-'));
    dirs.push(dir);
    const options = { algorithm: 'ES256' as const, publishAheadSeconds: 300, ttlSeconds: 120 };
    const first = await rotateKeys(dir, { ...options, nowSeconds: 1_000_000 });
    const jwk = JSON.parse(readFileSync(join(dir, `${first.added}.json`), 'utf8')) as Record<string, unknown>;
    expect(jwk).toMatchObject({ kid: first.added, alg: 'ES256', use: 'sig', created: 1_000_000, kty: 'EC', crv: 'P-256' });
    expect(typeof jwk.d).toBe('string');

    const second = await rotateKeys(dir, { ...options, nowSeconds: 2_000_000 });
    expect(second.pruned).toEqual([]); // the first key signs until the second has been published 300 s
    // The first key stopped signing at 2_000_300; its tokens lived 120 s more, plus 60 s of skew.
    const early = await rotateKeys(dir, { ...options, nowSeconds: 2_000_479 });
    expect(early.pruned).toEqual([]);
    const late = await rotateKeys(dir, { ...options, nowSeconds: 2_000_480 });
    expect(late.pruned).toEqual([first.added]);
    expect(readdirSync(dir).sort()).toEqual([second.added, early.added, late.added].map((k) => `${k}.json`).sort());
  });

  it('says a first key signs at once, and a later one after its publication window', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-rotate-'));
    dirs.push(dir);
    let out = '';
    const io = { stdout: (line: string) => (out += `${line}\n`), stderr: () => undefined };
    expect(await runKeys(['rotate', '--dir', dir], io)).toBe(0);
    expect(out).toMatch(/^added \S+; signs at once \(no other key in the directory\)\n$/);
    out = '';
    expect(await runKeys(['rotate', '--dir', dir, '--publish-ahead-seconds', '120'], io)).toBe(0);
    expect(out).toMatch(/^added \S+; signs after 120s of publication\n$/);
  });

  it('refuses a directory that does not exist as bad input (exit 2), saying what to do', async () => {
    const missing = join(tmpdir(), 'tollgate-rotate-missing', 'keys');
    const io = { stdout: () => undefined, stderr: () => undefined };
    await expect(runKeys(['rotate', '--dir', missing], io)).rejects.toThrow(UsageError);
    await expect(runKeys(['rotate', '--dir', missing], io)).rejects.toThrow(
      `--dir: ${missing} is not a directory; create it (mkdir -p ${missing})`,
    );
  });
});
