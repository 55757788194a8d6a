import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import type { Deps } from '../../src/observability/deps.js';
import { createLogger, silentLogger } from '../../src/observability/logger.js';
import type { Clock } from '../../src/util/clock.js';
import { systemClock } from '../../src/util/clock.js';

export function testDeps(clock: Clock = systemClock): Deps {
  return { logger: silentLogger(), registry: new Registry(), clock };
}

/** Deps whose logger writes JSON lines into `lines`, to assert on what operators would read. */
export function capturingDeps(clock: Clock = systemClock): { deps: Deps; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
      callback();
    },
  });
  return { deps: { logger: createLogger('debug', sink), registry: new Registry(), clock }, lines };
}

/** Poll `condition` every `intervalMs` until true; fail after `timeoutMs` naming what was awaited. */
export async function waitFor(
  what: string,
  condition: () => boolean,
  { timeoutMs = 10_000, intervalMs = 2 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    // intervalMs 0 polls on every turn of the event loop, for sub-millisecond measurements.
    await new Promise((resolve) => (intervalMs === 0 ? setImmediate(resolve) : setTimeout(resolve, intervalMs)));
  }
  return performance.now() - started;
}

export const nowSeconds = (clock: Clock = systemClock): number => Math.floor(clock.now() / 1000);
