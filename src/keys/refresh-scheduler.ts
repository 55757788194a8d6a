/** setTimeout's ceiling (~24.8 days); longer delays would fire immediately. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const noop = (): void => {};

/**
 * When a key set is loaded: one load at a time (callers join the load in flight), `refresh()` for a
 * load that starts after the call, and a timer for the next background load. Timers run only between
 * start() and stop(); after stop() nothing loads again.
 */
export class RefreshScheduler {
  private inflight: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;

  constructor(private readonly load: () => Promise<void>) {}

  get isLoading(): boolean {
    return this.inflight !== undefined;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** False when already started or stopped: start() is idempotent. */
  start(): boolean {
    if (this.started || this.stopped) return false;
    this.started = true;
    return true;
  }

  /** Returns false when it was already stopped. */
  stop(): boolean {
    if (this.stopped) return false;
    this.stopped = true;
    clearTimeout(this.timer);
    return true;
  }

  /** Single flight: joins the load in progress, if any (unknown kids, the timer). */
  join(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * A load that starts after this call, so it sees whatever changed before it (a file just written).
   * Calls made during a load share one follow-up load.
   */
  refresh(): Promise<void> {
    if (!this.inflight) return this.join();
    this.queued ??= this.inflight.catch(noop).then(() => {
      this.queued = undefined;
      return this.join();
    });
    return this.queued;
  }

  /** The next background load, `seconds` from now (replacing the one planned). */
  schedule(seconds: number): void {
    if (!this.started || this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.join().catch(noop), Math.min(seconds * 1000, MAX_TIMER_MS));
    this.timer.unref();
  }
}
