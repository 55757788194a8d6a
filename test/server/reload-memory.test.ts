import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOYED_NODE_ARGS, runDeployedNode } from '../helpers/deployed-node.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/reload-heap.mjs');
const RELOADS = 25;
const TOKENS_PER_RUNTIME = 6000;

describe('config reloads', () => {
  it('release the previous runtime: after many reloads with full caches the heap is back near the first runtime', async () => {
    expect(DEPLOYED_NODE_ARGS.some((arg) => arg.startsWith('--max-old-space-size='))).toBe(true);
    const out = await runDeployedNode(FIXTURE, [String(RELOADS), String(TOKENS_PER_RUNTIME)], ['--expose-gc']);
    const { first, last } = JSON.parse(out) as { first: number; last: number };
    console.info(
      `used heap after a full GC: ${first.toFixed(1)} MB with the first runtime, ${last.toFixed(1)} MB after ${RELOADS} reloads`,
    );
    // A retained runtime with 6,000 cached tokens is several MB: even two kept would exceed this.
    expect(last - first).toBeLessThan(4);
  }, 60_000);
});
