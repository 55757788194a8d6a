/**
 * A cap on the ordinary log's per-denial lines. Every denial is counted in metrics; its log line is
 * not worth a denial of service: a flood of bad tokens would otherwise turn into a flood of
 * synchronous writes that slows every Check, allowed ones included. Lines past the cap in a
 * one-second window are skipped and counted, and the next line written says how many were skipped.
 */
import type { Clock } from '../util/clock.js';

export class LogLineLimiter {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;
  private skipped = 0;

  constructor(
    /** Lines allowed per second; read at each window so a config reload applies at once. */
    private readonly perSecond: () => number,
    private readonly clock: Clock,
    private readonly onSkipped: () => void,
  ) {}

  /**
   * Null when the line is to be skipped (and counted); otherwise the number of lines skipped since the
   * last line written, for that line to carry.
   */
  admit(): number | null {
    const now = this.clock.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.perSecond()) {
      this.skipped++;
      this.onSkipped();
      return null;
    }
    this.used++;
    const skipped = this.skipped;
    this.skipped = 0;
    return skipped;
  }
}
