import type { Logger } from '../observability/logger.js';
import type { CheckMetrics, Transport } from '../observability/metrics.js';
import type { DecisionLog } from '../observability/decision-log.js';
import type { LogLineLimiter } from '../observability/log-limiter.js';
import type { CheckSpan, Tracing } from '../observability/tracing.js';
import { principalFromPeer } from '../policy/index.js';
import type { RevocationStore } from '../revocation/index.js';
import { decide, type Decided, type DecideOptions, type DecisionRuntime } from '../pipeline/decide.js';
import { requestViewFrom, type RequestView } from '../pipeline/request.js';
import { toCheckResponse, type Outcome, type ResponseContext } from '../pipeline/respond.js';
import type { ReplayGuard } from '../pipeline/dpop-replay.js';
import { withInternalToken } from '../internal-tokens/outcome.js';
import type { InternalTokens } from '../internal-tokens/index.js';
import type { CheckResponse } from '../envoy/types.js';
import type { RequestFailure } from '../reasons.js';
import type { CheckHandler } from './grpc.js';
import { UndecodableRequest, type OutgoingCheck } from './check-codec.js';
import { PreparedAllows, preparableToken } from './prepared-allow.js';
import { PreparedDenials } from './prepared-denial.js';
import type { Runtime } from './runtime.js';
import { loggedText } from '../util/log-text.js';
import type { Caller } from '../util/caller.js';

export interface CheckContext {
  runtime: () => Runtime;
  revocation: () => Pick<RevocationStore, 'check' | 'claimOnce'> | undefined;
  metrics: CheckMetrics;
  logger: Logger;
  /** Mints internal tokens for rules with `internalToken`; absent when `internalTokens` is not configured. */
  internalTokens?: () => InternalTokens | undefined;
  /** The decision log of the current config, if it has one. */
  decisionLog?: () => DecisionLog | undefined;
  /** Caps the ordinary log's denial lines; without it every denial line is written. */
  denialLines?: LogLineLimiter;
  /** Spans for Checks; absent means tracing is off. */
  tracing?: Tracing;
  /** Remembers DPoP proofs for the life of the process; without it no DPoP proof is accepted. */
  replayGuard?: ReplayGuard;
}

/** The gRPC Check handler: Envoy's CheckRequest as a request view, through the shared checker. */
export function createCheckHandler(check: Checker): CheckHandler {
  return (request, caller) =>
    check.grpc(() => (request instanceof UndecodableRequest ? 'malformed_request' : requestViewFrom(request)), caller);
}

/**
 * One request as a request view, through the pipeline: extract → verify → revocation → authorize →
 * respond, then counted and logged with its transport. The view is built inside, so a request that
 * cannot be read is denied like any other failure; a reason instead of a view is a request with no one
 * request to decide on (`malformed_request`: undecodable; `invalid_request_line`: the HTTP proxy's headers
 * name none). `caller`: the client certificate the request came with (mTLS), for internal tokens.
 */
type Check<R> = (view: () => RequestView | RequestFailure, caller?: Caller) => Promise<R>;

/** One pipeline for every transport; gRPC answers denials and allows for a cached token from prepared bytes. */
export interface Checker {
  grpc: Check<OutgoingCheck>;
  http: Check<CheckResponse>;
}

/**
 * The checker every transport shares. It never throws: any failure inside becomes a deny, because an
 * RPC error is what `failure_mode_allow` lets through (and an HTTP 5xx is not a denial to nginx).
 */
export function createChecker(ctx: CheckContext): Checker {
  const preparedAllows = new PreparedAllows();
  const preparedDenials = new PreparedDenials();
  const onVerified = (cached: boolean) => (cached ? ctx.metrics.tokenCacheHit : ctx.metrics.tokenCacheMiss).inc();
  const onBinding: DecideOptions['onBinding'] = (kind, result) => ctx.metrics.bindingCheck(kind, result);
  const onToken = (bytes: number, provider: string | undefined) =>
    ctx.metrics.tokenSize(bytes, provider ?? '', ctx.runtime().config.limits.maxTokenBytes);
  // Lines a client can trigger on every request share the denial lines' per-second budget.
  const capped = (write: (skipped: number | undefined) => void) => {
    const skipped = ctx.denialLines ? ctx.denialLines.admit() : 0;
    if (skipped !== null) write(skipped || undefined);
  };
  const onUnsafeClaim = (header: string, claim: string) =>
    capped((denialLinesSkipped) =>
      ctx.logger.warn({ header, claim, denialLinesSkipped }, 'claim value is not a safe header value; header not injected'),
    );
  const whole = (outcome: Outcome, view: RequestView | undefined, rc: ResponseContext) => toCheckResponse(outcome, view ?? emptyView, rc);
  const run = async <R>(
    toView: () => RequestView | RequestFailure,
    transport: Transport,
    caller: Caller | undefined,
    respond: (outcome: Outcome, view: RequestView | undefined, rc: ResponseContext, tokenCached: boolean) => R,
  ): Promise<R> => {
    const started = process.hrtime.bigint();
    const runtime = ctx.runtime();
    let view: RequestView | undefined;
    let outcome: Outcome;
    let result: Decided | undefined;
    let span: CheckSpan | undefined;
    let cacheHit: boolean | undefined;
    try {
      const decoded = toView();
      if (typeof decoded === 'string') {
        outcome = { kind: 'refused_request', reason: decoded };
      } else {
        view = decoded;
        const revocation = ctx.revocation();
        const options: DecideOptions = {
          revocation,
          onVerified,
          onToken,
          onBinding,
          replay: ctx.replayGuard && { guard: ctx.replayGuard, shared: revocation?.claimOnce },
        };
        span = ctx.tracing?.startCheck(view.headers);
        result = await (span
          ? decideInSpan(span, runtime, view, options, (cached) => (cacheHit = cached))
          : decide(runtime, view, options));
        outcome = withInternalToken(result.outcome, ctx.internalTokens?.(), caller, revocation, ctx.logger);
        if (result.decision?.dryRun) ctx.metrics.dryRunDenials.inc({ rule: result.decision.ruleId ?? '' });
        if (result.decision?.rollout)
          ctx.metrics.rollout(
            result.decision.ruleId ?? '',
            result.decision.rollout.arm,
            result.decision.allowed && !result.decision.dryRun ? 'allow' : 'deny',
          );
      }
    } catch (err) {
      capped((denialLinesSkipped) =>
        ctx.logger.error({ err: errorSummary(err), requestId: loggedText(view?.requestId), denialLinesSkipped }, 'check failed; denying'),
      );
      outcome = { kind: 'error' };
    }
    const rc = { identityHeaders: runtime.identityHeaders, realm: runtime.config.realm, dpop: runtime.dpopChallenge, onUnsafeClaim };
    const response = respond(outcome, view, rc, result?.tokenCached === true);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const labels = labelsOf(outcome);
    record(ctx, labels, outcome, view, transport);
    ctx.metrics.duration[transport].observe(seconds);
    span?.finish({ ...labels, cacheHit });
    queueDecisionLine(ctx, labels, outcome, view, result, seconds, transport);
    return response;
  };
  return {
    grpc: (toView, caller) =>
      run(toView, 'grpc', caller, (outcome, view, rc, tokenCached) => {
        if (outcome.kind !== 'allow') return preparedDenials.respond(outcome, rc.realm, rc.dpop);
        const token = preparableToken(outcome, tokenCached);
        return token && view ? preparedAllows.respond(outcome, token, view, rc) : whole(outcome, view, rc);
      }),
    http: (toView, caller) => run(toView, 'http', caller, whole),
  };
}

/**
 * `decide` inside the Check's span: the revocation and context-source look-ups get child spans (they
 * run after awaits, where the synchronous context stack no longer holds the Check's span), the cache
 * hit is noted.
 */
function decideInSpan(
  span: CheckSpan,
  runtime: Runtime,
  view: RequestView,
  options: DecideOptions,
  noteCacheHit: (cached: boolean) => void,
): Promise<Decided> {
  const store = options.revocation;
  const traced: DecideOptions = {
    ...options,
    revocation: store && { check: (claims) => span.child('tollgate.revocation.check', () => store.check(claims)) },
    onVerified: (cached) => {
      noteCacheHit(cached);
      options.onVerified?.(cached);
    },
  };
  const sources = runtime.contextSources;
  // The runtime as it is, but for its context sources, whose look-ups become child spans.
  const tracedRuntime: DecisionRuntime = {
    ...runtime,
    contextSources: { resolve: (query) => span.child('tollgate.context.lookup', () => sources.resolve(query)) },
  };
  return span.within(() => decide(tracedRuntime, view, traced));
}

/** Hands a sampled decision to the decision log, which formats and writes it off the Check path. */
function queueDecisionLine(
  ctx: CheckContext,
  labels: Labels,
  outcome: Outcome,
  view: RequestView | undefined,
  result: Decided | undefined,
  seconds: number,
  transport: Transport,
): void {
  const decisionLog = ctx.decisionLog?.();
  if (!decisionLog?.wants(labels.decision !== 'allow')) return;
  decisionLog.push({
    requestId: view?.requestId,
    ...labels,
    transport,
    sub: subOf(outcome),
    method: view?.method,
    path: view?.path,
    peer: view ? principalFromPeer(view) : undefined,
    latencySeconds: seconds,
    arm: result?.decision?.rollout?.arm,
    claims: result?.token?.claims,
  });
}

function record(ctx: CheckContext, labels: Labels, outcome: Outcome, view: RequestView | undefined, transport: Transport): void {
  ctx.metrics.check(labels.decision, labels.reason, labels.provider, labels.rule, transport);
  // Allowed requests are logged only at debug level: a line per request would cost more than the check.
  const allowed = labels.decision === 'allow';
  if (allowed && !ctx.logger.isLevelEnabled('debug')) return;
  const skipped = allowed || !ctx.denialLines ? 0 : ctx.denialLines.admit();
  if (skipped === null) return;
  // The path is logged without its query: a query may carry a token.
  const line = {
    decision: labels.decision,
    reason: labels.reason,
    provider: labels.provider || undefined,
    rule: labels.rule || undefined,
    sub: subOf(outcome),
    requestId: loggedText(view?.requestId),
    transport,
    method: loggedText(view?.method),
    path: loggedText(view?.path.split('?', 1)[0]),
    denialLinesSkipped: skipped || undefined,
  };
  if (allowed) ctx.logger.debug(line, 'check allowed');
  else ctx.logger.info(line, labels.decision === 'dry_run_deny' ? 'dry run: would deny, allowed' : 'check denied');
}

/** The verified subject, when there is one, for the decision log line. */
function subOf(outcome: Outcome): string | undefined {
  const sub = outcome.kind === 'allow' ? outcome.token?.claims.sub : 'sub' in outcome ? outcome.sub : undefined;
  return typeof sub === 'string' ? sub : undefined;
}

interface Labels {
  decision: string;
  reason: string;
  provider: string;
  rule: string;
}

function labelsOf(outcome: Outcome): Labels {
  switch (outcome.kind) {
    case 'allow':
      return {
        decision: outcome.dryRunReason ? 'dry_run_deny' : 'allow',
        reason: outcome.dryRunReason ?? 'allowed',
        provider: outcome.token?.provider.config.name ?? '',
        rule: outcome.ruleId ?? '',
      };
    case 'unauthenticated':
    case 'forbidden':
      return { decision: 'deny', reason: outcome.reason, provider: outcome.provider ?? '', rule: outcome.ruleId ?? '' };
    case 'refused_request':
      return { decision: 'deny', reason: outcome.reason, provider: '', rule: '' };
    case 'error':
      return { decision: 'deny', reason: 'internal_error', provider: '', rule: '' };
  }
}

/** An error's kind and message, never its properties (which may hold request data). */
function errorSummary(err: unknown): { type: string; message: string } {
  return err instanceof Error ? { type: err.name, message: err.message } : { type: typeof err, message: 'non-error thrown' };
}

const emptyView: RequestView = { method: '', host: '', path: '', headers: new Map() };
