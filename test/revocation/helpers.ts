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
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((line) => line !== ''),
      );
      callback();
    },
  });
  return { deps: { logger: createLogger('debug', sink), registry: new Registry(), clock }, lines };
}

export { nowSeconds, waitFor } from '../helpers/time.js';
