/**
 * Traces: a span per Check that continues the trace Envoy started (`traceparent`, or B3 headers, in
 * the CheckRequest's headers), carrying the decision (rule, reason, decision, provider, cache hit),
 * with child spans for the work a Check may wait on (key fetches, revocation look-ups). Exported with
 * OpenTelemetry's SDK over OTLP/HTTP (src/observability/otel-tracing.ts).
 *
 * Off unless `tracing` is configured, and then free: `noTracing` starts nothing and the Check path
 * skips every tracing step when there is no span. The SDK is loaded only when tracing is on: a
 * sidecar that does not trace does not carry it in memory.
 */
import type { Attributes } from '@opentelemetry/api';
import type { TracingConfig } from './tracing-config.js';

/** What a finished Check span records. Never a token, a claim value or a header. */
export interface CheckSpanResult {
  decision: string;
  reason: string;
  rule: string;
  provider: string;
  /** Whether the verified-token cache answered; undefined when no token was verified. */
  cacheHit?: boolean;
}

export interface CheckSpan {
  /**
   * Runs `fn` with this span active during its synchronous part, so spans started there become its
   * children (a key fetch is started synchronously from the Check's call into verification).
   */
  within<T>(fn: () => T): T;
  /** Runs `fn` in a child span of this Check. */
  child<T>(name: string, fn: () => T): T;
  finish(result: CheckSpanResult): void;
}

export interface Tracing {
  /** A span for one Check, child of the trace in `headers` (lower-case names); undefined when tracing is off or the Check is not sampled. */
  startCheck(headers: ReadonlyMap<string, readonly string[]>): CheckSpan | undefined;
  /** Runs `fn` in a child span of the active Check span, if any (see CheckSpan.within); else just runs it. */
  child<T>(name: string, fn: () => T, attributes?: Attributes): T;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export const noTracing: Tracing = {
  startCheck: () => undefined,
  child: (_name, fn) => fn(),
  shutdown: async () => {},
};

/** Tracing as `config` asks for, with the OpenTelemetry SDK loaded now. */
export async function startTracing(config: TracingConfig): Promise<Tracing> {
  const { startOtelTracing } = await import('./otel-tracing.js');
  return startOtelTracing(config);
}
