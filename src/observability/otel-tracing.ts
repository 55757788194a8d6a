/**
 * The OpenTelemetry side of tracing (see tracing.ts): loaded only when `tracing` is configured.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  StackContextManager,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { TracingConfig } from './tracing-config.js';
import type { CheckSpan, Tracing } from './tracing.js';

const CHECK_SPAN = 'envoy.service.auth.v3.Authorization/Check';

let contextManagerRegistered = false;

const headerGetter: TextMapGetter<ReadonlyMap<string, readonly string[]>> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key.toLowerCase())?.[0],
};

export function startOtelTracing(config: TracingConfig): Tracing {
  // A synchronous context stack, not AsyncLocalStorage: on Node 20 the latter installs promise hooks
  // that tax every promise in the process (measured: a quarter of the throughput), and the one child
  // found through the active context, a key fetch, starts synchronously inside the Check's call.
  // Registered once per process; a second server in the same process shares it.
  if (!contextManagerRegistered) contextManagerRegistered = context.setGlobalContextManager(new StackContextManager().enable());
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'tollgate' }),
    // Envoy's sampling decision is followed when it sent one; sampleRatio decides for the rest.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    // Spans are exported in batches off the Check path; past the queue's bound they are dropped.
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl(config.otlpEndpoint) }) })],
  });
  const tracer = provider.getTracer('tollgate');
  // traceparent wins over B3 when a request carries both: later propagators overwrite earlier ones.
  const propagator: TextMapPropagator = new CompositePropagator({ propagators: [new B3Propagator(), new W3CTraceContextPropagator()] });

  return {
    startCheck(headers) {
      const parent = propagator.extract(ROOT_CONTEXT, headers, headerGetter);
      const span = tracer.startSpan(
        CHECK_SPAN,
        {
          kind: SpanKind.SERVER,
          attributes: { 'rpc.system': 'grpc', 'rpc.service': 'envoy.service.auth.v3.Authorization', 'rpc.method': 'Check' },
        },
        parent,
      );
      // Not sampled: nothing to record, so the Check runs as if tracing were off.
      if (!span.isRecording()) return undefined;
      return checkSpan(tracer, span, trace.setSpan(parent, span));
    },
    child(name, fn, attributes) {
      const parent = context.active();
      if (!trace.getSpan(parent)?.isRecording()) return fn();
      return inSpan(tracer, name, parent, fn, attributes);
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}

/** The OTLP/HTTP convention: a base endpoint gets `/v1/traces`; a URL already ending in it is kept. */
function tracesUrl(endpoint: string): string {
  return endpoint.replace(/\/+$/, '').endsWith('/v1/traces') ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

function checkSpan(tracer: Tracer, span: Span, active: Context): CheckSpan {
  return {
    within: (fn) => context.with(active, fn),
    child: (name, fn) => inSpan(tracer, name, active, fn),
    finish(result) {
      span.setAttributes({
        'tollgate.decision': result.decision,
        'tollgate.reason': result.reason,
        'tollgate.rule': result.rule,
        'tollgate.provider': result.provider,
      });
      if (result.cacheHit !== undefined) span.setAttribute('tollgate.cache_hit', result.cacheHit);
      // A denial is a decision, not an error; only tollgate failing is.
      if (result.reason === 'internal_error') span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
  };
}

/** Runs `fn` (sync or async) in a new span under `parent`; the span ends when `fn` is done. */
function inSpan<T>(tracer: Tracer, name: string, parent: Context, fn: () => T, attributes?: Attributes): T {
  const span = tracer.startSpan(name, { attributes }, parent);
  const failed = (err: unknown) => {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
    span.end();
    throw err;
  };
  let out: T;
  try {
    out = context.with(trace.setSpan(parent, span), fn);
  } catch (err) {
    return failed(err);
  }
  if (out instanceof Promise) {
    return out.then((value: unknown) => {
      span.end();
      return value;
    }, failed) as T;
  }
  span.end();
  return out;
}
