/**
 * The decision log: one JSON line per sampled decision, for audits and for answering "why was this
 * request denied" later. Off the Check path: a Check only samples and queues a small record; lines are
 * formatted after the answer is sent and written by a thread of their own (decision-log-writer.js).
 * The queue is bounded: when the sink cannot keep up, lines are dropped and counted, and Check never
 * waits (OPA's decision logs raised p99 tenfold before theirs was bounded, opa #5724).
 *
 * A line never holds a token, a key, a secret or a header: only the decision's fields, the verified
 * claims minus `mask`, and the path without its query (which may carry a token).
 */
import { Worker } from 'node:worker_threads';
import { compileClaimPath, isObject, type ClaimPath, type JsonObject } from '../util/claim-path.js';
import type { DecisionLogConfig } from './decision-log-config.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from './logger.js';

/** What a Check hands over; formatted into a line later, off the Check path. */
export interface DecisionRecord {
  requestId?: string;
  decision: string;
  rule: string;
  reason: string;
  provider: string;
  /** Which listener the check came in on: `grpc` or `http`. */
  transport: string;
  sub?: string;
  method?: string;
  /** As received; the query is cut off when the line is formatted. */
  path?: string;
  peer?: string;
  latencySeconds: number;
  /** The rollout arm, for a rule with `rollout`. */
  arm?: string;
  /** Verified claims only; masked when the line is formatted. */
  claims?: JsonObject;
}

export interface DecisionLogOptions {
  logger: Logger;
  clock: Clock;
  /** Counts lines dropped because the queue was full or the sink failed. */
  dropped: { inc(count?: number): void };
  /** Source of randomness for sampling; injected by tests. */
  random?: () => number;
}

/** How long `stop` waits for queued lines to reach the sink before giving up on them. */
const STOP_FLUSH_MS = 1000;

export class DecisionLog {
  /** Records with the time (ms since the epoch) they were handed over, i.e. when the decision was made. */
  private pending: Array<DecisionRecord & { time: number }> = [];
  /** Lines handed to the writer thread and not yet acknowledged: they count against maxQueue. */
  private inFlight = 0;
  private flushScheduled = false;
  private failureLogged = false;
  /** Set by `stop` while it waits for the writer to catch up. */
  private onDrained: (() => void) | undefined;
  private readonly worker: Worker;
  private readonly mask: ClaimPath[];
  private readonly random: () => number;

  constructor(
    readonly config: DecisionLogConfig,
    private readonly options: DecisionLogOptions,
  ) {
    this.random = options.random ?? Math.random;
    this.mask = config.mask.map((source) => {
      const compiled = compileClaimPath(source);
      if (!compiled.ok) throw new Error(compiled.message); // the config schema validated it
      return compiled.path;
    });
    this.worker = new Worker(new URL('./decision-log-writer.js', import.meta.url), {
      workerData: { sink: config.sink, path: config.path },
    });
    this.worker.on('message', (message: { written: number } | { failed: number; code: string }) => this.onWriterReport(message));
    this.worker.on('error', (err: Error) =>
      options.logger.error({ err: err.message }, 'decision log writer failed; decision lines are dropped'),
    );
    // The log never keeps the process alive, and a writer stuck on a stalled sink never holds up exit.
    this.worker.unref();
  }

  /** Whether this decision is sampled; ask before building the record. */
  wants(denied: boolean): boolean {
    const rate = denied ? this.config.sampleDenied : this.config.sampleAllowed;
    return rate >= 1 || (rate > 0 && this.random() < rate);
  }

  /** Queues a record, or drops and counts it when the queue is full. Never waits. */
  push(record: DecisionRecord): void {
    if (this.pending.length + this.inFlight >= this.config.maxQueue) {
      this.options.dropped.inc();
      return;
    }
    this.pending.push({ ...record, time: this.options.clock.now() });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the current Checks have answered: formatting is not part of any Check's latency.
      setImmediate(() => this.flush());
    }
  }

  /** Lines queued or being written. */
  get queued(): number {
    return this.pending.length + this.inFlight;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let text = '';
    for (const record of batch) text += `${JSON.stringify(this.line(record))}\n`;
    this.inFlight += batch.length;
    this.worker.postMessage({ text, count: batch.length });
  }

  private line(r: DecisionRecord & { time: number }): Record<string, unknown> {
    return {
      time: new Date(r.time).toISOString(),
      requestId: r.requestId,
      decision: r.decision,
      rule: r.rule || undefined,
      reason: r.reason,
      provider: r.provider || undefined,
      transport: r.transport,
      sub: r.sub,
      method: r.method,
      path: r.path?.split(/[?#]/, 1)[0],
      peer: r.peer,
      latencyMs: Math.round(r.latencySeconds * 1e6) / 1e3,
      arm: r.arm,
      claims: r.claims && this.masked(r.claims),
    };
  }

  private masked(claims: JsonObject): JsonObject {
    let out = claims;
    for (const path of this.mask) {
      // A top-level claim whose own name has dots is what the path names first (as everywhere else);
      // the nested reading is masked too, so a mask never leaves either through.
      if (path.parts.length > 1) out = without(out, [path.source]);
      out = without(out, path.parts);
    }
    return out;
  }

  private onWriterReport(message: { written: number } | { failed: number; code: string }): void {
    this.inFlight -= 'written' in message ? message.written : message.failed;
    if (this.inFlight === 0) this.onDrained?.();
    if ('written' in message) return;
    this.options.dropped.inc(message.failed);
    if (!this.failureLogged) {
      this.failureLogged = true;
      this.options.logger.error(
        { sink: this.config.sink, code: message.code },
        'decision log sink failed; lines are dropped and counted in tollgate_decision_log_dropped_total',
      );
    }
  }

  /** Hands over what is queued, waits briefly for it to be written, then ends the writer. */
  async stop(): Promise<void> {
    this.flush();
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.onDrained = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_FLUSH_MS))),
      ]);
      clearTimeout(timer);
    }
    // A writer blocked in write(2) cannot be interrupted; it is unref'd and goes with the process.
    void this.worker.terminate();
  }
}

/** A copy of `object` without the property at `parts`; objects off the path are shared, not copied. */
function without(object: JsonObject, parts: readonly string[]): JsonObject {
  const [head, ...rest] = parts;
  if (head === undefined || !Object.hasOwn(object, head)) return object;
  const copy: Record<string, unknown> = { ...object };
  const child = copy[head];
  if (rest.length === 0) delete copy[head];
  else if (isObject(child)) copy[head] = without(child, rest);
  return copy;
}
