/**
 * README.md's Envoy snippet is a region of examples/envoy/sidecar.yaml, which envoy-config.test.ts checks
 * against Envoy's protos; this test keeps the README's copy identical to it, so the snippet users copy is
 * one that is known to load.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './kustomize.js';

const BEGIN = '# --- BEGIN README SNIPPET ---';
const END = '# --- END README SNIPPET ---';

/** The lines strictly between the markers, as they appear in the file. */
function snippetRegion(text: string): string {
  const lines = text.split('\n');
  const begin = lines.findIndex((l) => l.trim() === BEGIN);
  const end = lines.findIndex((l) => l.trim() === END);
  if (begin < 0 || end < 0 || end <= begin + 1)
    throw new Error(`examples/envoy/sidecar.yaml needs one "${BEGIN}" line before one "${END}" line`);
  if (lines.filter((l) => l.trim() === BEGIN || l.trim() === END).length !== 2)
    throw new Error('the snippet markers appear more than once');
  return lines.slice(begin + 1, end).join('\n');
}

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ya?ml[^\n]*\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
}

describe('README Envoy snippet', () => {
  it('covers the ext_authz filter and the tollgate cluster', () => {
    const region = snippetRegion(readFileSync(join(REPO, 'examples/envoy/sidecar.yaml'), 'utf8'));
    expect(region).toContain('name: envoy.filters.http.ext_authz');
    expect(region).toContain('failure_mode_allow: false');
    expect(region).toMatch(/clusters:\n(\s+#.*\n)*\s+- name: tollgate\n/);
    expect(region).toContain('grpc_health_check');
  });

  it('appears verbatim in a ```yaml block of README.md', () => {
    const region = snippetRegion(readFileSync(join(REPO, 'examples/envoy/sidecar.yaml'), 'utf8'));
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const found = yamlBlocks(readme).some((block) => block.includes(region));
    expect(
      found,
      'README.md must contain, inside a ```yaml block, the text between the README SNIPPET markers of examples/envoy/sidecar.yaml, unchanged',
    ).toBe(true);
  });
});
