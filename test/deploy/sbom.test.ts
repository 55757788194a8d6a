/**
 * `npm run sbom` as a release runs it: the document must be CycloneDX, valid against the CycloneDX JSON
 * schema of the spec version it declares (the CycloneDX project's own validator), and list exactly the
 * production dependencies package-lock.json pins — what the Dockerfile's deps stage installs — each
 * with its npm purl, and no development tooling.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './kustomize.js';

interface Component {
  type: string;
  name: string;
  group?: string;
  version: string;
  purl?: string;
  components?: Component[];
}

interface Bom {
  bomFormat: string;
  specVersion: string;
  metadata: { component: Component };
  components: Component[];
}

interface LockEntry {
  name?: string;
  version: string;
  dev?: boolean;
}

const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

/** name@version of every package `npm ci --omit=dev` installs: lockfile entries not marked dev-only. */
function productionPackages(): Set<string> {
  const out = new Set<string>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev) continue;
    out.add(`${entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${entry.version}`);
  }
  return out;
}

function flatten(components: Component[]): Component[] {
  return components.flatMap((c) => [c, ...flatten(c.components ?? [])]);
}

const fullName = (c: Component) => (c.group ? `${c.group}/${c.name}` : c.name);

describe('npm run sbom', () => {
  let dir: string;
  let text: string;
  let bom: Bom;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-sbom-'));
    const file = join(dir, 'tollgate.cdx.json');
    execFileSync('npm', ['run', '--silent', 'sbom', '--', '--output-file', file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    text = readFileSync(file, 'utf8');
    bom = JSON.parse(text) as Bom;
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes a CycloneDX document that validates against the schema of its spec version', async () => {
    expect(bom.bomFormat).toBe('CycloneDX');
    expect(Object.values(Spec.Version)).toContain(bom.specVersion);
    const errors = await new Validation.JsonStrictValidator(bom.specVersion as Spec.Version).validate(text);
    expect(errors).toBeNull();
  });

  it('describes tollgate at its package.json version as the application', () => {
    expect(bom.metadata.component).toMatchObject({ type: 'application', name: manifest.name, version: manifest.version });
  });

  it('lists exactly the production dependencies the lockfile pins, each with its npm purl', () => {
    const components = flatten(bom.components);
    const listed = new Set(components.map((c) => `${fullName(c)}@${c.version}`));
    expect([...listed].sort()).toEqual([...productionPackages()].sort());
    for (const [dep, version] of Object.entries(manifest.dependencies)) expect(listed, `${dep}@${version}`).toContain(`${dep}@${version}`);
    for (const c of components) expect(c.purl, fullName(c)).toBe(`pkg:npm/${fullName(c).replace('@', '%40')}@${c.version}`);
    for (const dev of ['typescript', 'vitest', 'kubernetes-models', '@grpc/grpc-js-xds', '@cyclonedx/cyclonedx-npm']) {
      expect(components.map(fullName), dev).not.toContain(dev);
    }
  });
});
