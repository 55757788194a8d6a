import type { Logger } from '../observability/logger.js';
import type { DecisionLog } from '../observability/decision-log.js';
import type { LogLineLimiter } from '../observability/log-limiter.js';
import type { CheckSpan, Tracing } from '../observability/tracing.js';
import type { CheckMetrics } from '../observability/metrics.js';
import { principalFromPeer } from '../policy/index.js';
import type { RevocationStore } from '../revocation/index.js';
import { decide, type Decided, type DecideOptions } from '../pipeline/decide.js';
import { requestViewFrom, type RequestView } from '../pipeline/request.js';
import { toCheckResponse, type Outcome } from '../pipeline/respond.js';
import { withInternalToken } from '../internal-tokens/outcome.js';
import type { InternalTokens } from '../internal-tokens/index.js';
import type { CheckHandler } from './grpc.js';
import { UndecodableRequest } from './check-codec.js';
import { PreparedAllows } from './prepared-allow.js';
import type { Runtime } from './runtime.js';

export interface CheckContext {
  runtime: () => Runtime;
  revocation: () => Pick<RevocationStore, 'check'> | undefined;
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
}

/**
 * The Check handler: request → extract → verify → revocation → authorize → respond. It never throws:
 * any failure inside becomes a deny, because an RPC error is what `failure_mode_allow` lets through.
 */
export function createCheckHandler(ctx: CheckContext): CheckHandler {
  const preparedAllows = new PreparedAllows();
  const onVerified = (cached: boolean) => (cached ? ctx.metrics.tokenCacheHit : ctx.metrics.tokenCacheMiss).inc();
  const onUnsafeClaim = (header: string, claim: string) =>
    ctx.logger.warn({ header, claim }, 'claim value is not a safe header value; header not injected');
  return async (request, caller) => {
    const started = process.hrtime.bigint();
    const runtime = ctx.runtime();
    let view: RequestView | undefined;
    let outcome: Outcome;
    let result: Decided | undefined;
    let span: CheckSpan | undefined;
    let cacheHit: boolean | undefined;
    try {
      if (request instanceof UndecodableRequest) {
        outcome = { kind: 'malformed_request' };
      } else {
        view = requestViewFrom(request);
        const revocation = ctx.revocation();
        span = ctx.tracing?.startCheck(view.headers);
        result = await (span
          ? decideInSpan(span, runtime, view, revocation, onVerified, (cached) => (cacheHit = cached))
          : decide(runtime, view, { revocation, onVerified }));
        outcome = withInternalToken(result.outcome, ctx.internalTokens?.(), caller, revocation, ctx.logger);
        if (result.decision?.dryRun) ctx.metrics.dryRunDenials.inc({ rule: result.decision.ruleId ?? '' });
        if (result.decision?.rollout) ctx.metrics.rollout(result.decision.ruleId ?? '', result.decision.rollout.arm, result.decision.allowed && !result.decision.dryRun ? 'allow' : 'deny');
      }
    } catch (err) {
      ctx.logger.error({ err: errorSummary(err), requestId: view?.requestId }, 'check failed; denying');
      outcome = { kind: 'error' };
    }
    const responseContext = { identityHeaders: runtime.identityHeaders, realm: runtime.config.realm, onUnsafeClaim };
    // An allow that mints an internal token differs per request: it is encoded whole.
    const token = outcome.kind === 'allow' && !outcome.minted ? outcome.token : undefined;
    const response =
      outcome.kind === 'allow' && token && view
        ? preparedAllows.respond(outcome, token, view, responseContext)
        : toCheckResponse(outcome, view ?? emptyView, responseContext);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const labels = labelsOf(outcome);
    record(ctx, labels, outcome, view);
    ctx.metrics.duration.observe(seconds);
    span?.finish({ ...labels, cacheHit });
    queueDecisionLine(ctx, labels, outcome, view, result, seconds);
    return response;
  };
}

/** `decide` inside the Check's span: the revocation look-up gets a child span, the cache hit is noted. */
function decideInSpan(
  span: CheckSpan,
  runtime: Runtime,
  view: RequestView,
  store: Pick<RevocationStore, 'check'> | undefined,
  onVerified: (cached: boolean) => void,
  noteCacheHit: (cached: boolean) => void,
): Promise<Decided> {
  const options: DecideOptions = {
    revocation: store && { check: (claims) => span.child('tollgate.revocation.check', () => store.check(claims)) },
    onVerified: (cached) => {
      noteCacheHit(cached);
      onVerified(cached);
    },
  };
  return span.within(() => decide(runtime, view, options));
}

/** Hands a sampled decision to the decision log, which formats and writes it off the Check path. */
function queueDecisionLine(ctx: CheckContext, labels: Labels, outcome: Outcome, view: RequestView | undefined, result: Decided | undefined, seconds: number): void {
  const decisionLog = ctx.decisionLog?.();
  if (!decisionLog?.wants(labels.decision !== 'allow')) return;
  decisionLog.push({
    requestId: view?.requestId,
    ...labels,
    sub: subOf(outcome),
    method: view?.method,
    path: view?.path,
    peer: view ? principalFromPeer(view) : undefined,
    latencySeconds: seconds,
    arm: result?.decision?.rollout?.arm,
    claims: result?.token?.claims,
  });
}

function record(ctx: CheckContext, labels: Labels, outcome: Outcome, view: RequestView | undefined): void {
  ctx.metrics.check(labels.decision, labels.reason, labels.provider, labels.rule);
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
    requestId: view?.requestId,
    method: view?.method,
    path: view?.path.split('?', 1)[0],
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
    case 'malformed_request':
      return { decision: 'deny', reason: 'malformed_request', provider: '', rule: '' };
    case 'error':
      return { decision: 'deny', reason: 'internal_error', provider: '', rule: '' };
  }
}

/** An error's kind and message, never its properties (which may hold request data). */
function errorSummary(err: unknown): { type: string; message: string } {
  return err instanceof Error ? { type: err.name, message: err.message } : { type: typeof err, message: 'non-error thrown' };
}

const emptyView: RequestView = { method: '', host: '', path: '', headers: new Map() };
