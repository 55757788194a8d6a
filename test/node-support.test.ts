import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_NODE_MAJORS, unsupportedNodeWarning } from '../src/node-support.js';

describe('Node.js lines', () => {
  it("reads the supported majors from package.json's engines", () => {
    const engines = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } })
      .engines;
    expect(engines.node).toBe('^24 || ^26');
    expect(SUPPORTED_NODE_MAJORS).toEqual([24, 26]);
  });

  it('warns on a line outside engines, naming the supported ones', () => {
    expect(unsupportedNodeWarning('v20.20.2')).toBe(
      'tollgate: Node.js v20.20.2 is not supported; use Node.js 24 or 26 (package.json engines), the lines tollgate is tested on',
    );
    expect(unsupportedNodeWarning('v22.1.0')).toContain('not supported');
    expect(unsupportedNodeWarning('v25.0.0')).toContain('not supported');
  });

  it('is quiet on a supported line, and on the one running these tests', () => {
    expect(unsupportedNodeWarning('v24.11.0')).toBeUndefined();
    expect(unsupportedNodeWarning('v26.12.1')).toBeUndefined();
    expect(unsupportedNodeWarning(process.version)).toBeUndefined();
  });
});
