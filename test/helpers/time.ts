import { systemClock, type Clock } from '../../src/util/clock.js';

/**
 * Polls `condition` every `intervalMs` until it holds; fails after `timeoutMs` naming what was awaited.
 * Waiting on an outcome, not on a clock. Returns the time it took, for tests that measure propagation.
 */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, intervalMs = 2 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    // intervalMs 0 polls on every turn of the event loop, for sub-millisecond measurements.
    await new Promise((resolve) => (intervalMs === 0 ? setImmediate(resolve) : setTimeout(resolve, intervalMs)));
  }
  return performance.now() - started;
}

/** Whole seconds since the epoch on `clock`, as JWT claims count them. */
export const nowSeconds = (clock: Clock = systemClock): number => Math.floor(clock.now() / 1000);
