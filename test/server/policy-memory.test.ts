import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDeployedNode } from '../helpers/deployed-node.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/policy-heap.mjs');
const RULES = 10_000;

describe('a large policy in a running server', () => {
  it('holds no more than its compiled rules: the parsed config is not kept, at start or after a reload', async () => {
    const out = await runDeployedNode(FIXTURE, [String(RULES)], ['--expose-gc']);
    const { compiled, started, reloaded } = JSON.parse(out) as { compiled: number; started: number; reloaded: number };
    console.info(
      `used heap after a full GC for ${RULES} rules: compiled alone ${compiled.toFixed(1)} MB; in a server ${started.toFixed(1)} MB after start, ${reloaded.toFixed(1)} MB after a reload`,
    );
    // The parsed rules are 3.5 MB more; kept with them, the compile cache kept every rule compiled twice.
    expect(started).toBeLessThan(compiled + 1.5);
    expect(reloaded).toBeLessThan(compiled + 1.5);
  }, 60_000);
});
