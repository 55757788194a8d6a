import type { Clock } from './clock.js';

/** Once a minute is often enough to see that a failure persists, and rare enough to read. */
const REPEAT_INTERVAL_MS = 60_000;

/**
 * Lets the same repeated message through once per `intervalMs`: a failure that repeats on every retry
 * (an unreachable IdP, an invalid config file) is logged when it starts or changes, then at most once
 * per interval with the number of repeats in between.
 */
export function repeatLimiter(clock: Clock, intervalMs = REPEAT_INTERVAL_MS): (message: string) => { log: boolean; repeated: number } {
  let last: string | undefined;
  let loggedAt = 0;
  let repeated = 0;
  return (message) => {
    const now = clock.now();
    if (message === last && now - loggedAt < intervalMs) {
      repeated += 1;
      return { log: false, repeated };
    }
    const result = { log: true, repeated: message === last ? repeated : 0 };
    last = message;
    loggedAt = now;
    repeated = 0;
    return result;
  };
}
