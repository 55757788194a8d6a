import type { Registry } from 'prom-client';
import type { Clock } from '../util/clock.js';
import type { Logger } from './logger.js';
import type { Tracing } from './tracing.js';

/**
 * What every long-lived component receives from the server that owns it. Each server instance has its
 * own metrics registry, so two instances in one process (tests) never share counters.
 */
export interface Deps {
  logger: Logger;
  registry: Registry;
  clock: Clock;
  /** Child spans for work a Check waits on (key fetches); absent or `noTracing` when tracing is off. */
  tracing?: Tracing;
}
