/**
 * The overlays reference tollgate's image by tag; docs/deploying.md "Pin the image by digest" shows a
 * production overlay of one's own on top of them that adds the digest. Both render as described: the
 * tag alone, then tag@digest on the tollgate container only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, render, type K8sObject } from './kustomize.js';

const IMAGE = 'registry.example.com/tollgate';
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

function images(objects: K8sObject[]): string[] {
  return objects.flatMap((o) => {
    const spec = (o as { spec?: { template?: { spec?: { containers?: { image: string }[] } } } }).spec?.template?.spec;
    return (spec?.containers ?? []).map((c) => c.image);
  });
}

const work = mkdtempSync(join(tmpdir(), 'tollgate-pin-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(['k8s/overlays/sidecar', 'k8s/overlays/gateway'])('%s', (overlay) => {
  it('references the tollgate image by tag, and an overlay on top pins it by digest', () => {
    const byTag = images(render(overlay));
    const tollgate = byTag.filter((i) => i.startsWith(`${IMAGE}:`));
    expect(tollgate.length).toBeGreaterThan(0);
    for (const image of tollgate) expect(image).toMatch(/^registry\.example\.com\/tollgate:[\w.-]+$/);
    const tag = tollgate[0]!.slice(IMAGE.length + 1);

    // The production overlay as docs/deploying.md shows it (kustomize refuses absolute resource paths).
    const dir = mkdtempSync(join(work, 'production-'));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${relative(dir, join(REPO, overlay))}`,
        'images:',
        `  - name: ${IMAGE}`,
        `    newTag: "${tag}"`,
        `    digest: ${DIGEST}`,
        '',
      ].join('\n'),
    );
    const pinned = images(render(dir));
    expect(pinned.filter((i) => i.startsWith(`${IMAGE}:`))).toEqual(tollgate.map(() => `${IMAGE}:${tag}@${DIGEST}`));
    // Only tollgate's image changed.
    expect(pinned.filter((i) => !i.startsWith(`${IMAGE}:`))).toEqual(byTag.filter((i) => !i.startsWith(`${IMAGE}:`)));
  });
});
