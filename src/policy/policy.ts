/**
 * The policy: rules compiled once at load; per request, one path normalization and a walk over the
 * rules until the first match. Pure: no I/O, no clock, no logging — the caller records the decision.
 */
import { PolicyError } from './errors.js';
import { literalPrefixes, matches, normalizeHost, type HeaderLookup, type PreparedRequest } from './match.js';
import { normalizePath } from './path.js';
import type { PolicyReason } from '../reasons.js';
import type { CompiledRequirement, ContextAnswers, ContextGrant, ContextQuery, EvalContext, Failure, Identity } from './requirements.js';
import { rolloutSubject, type RolloutArm } from './rollout.js';
import { compileRule, type CompiledRule } from './rule.js';
import { RuleIndex } from './rule-index.js';
import { actorsOf, type ConditionNeeds, type ConditionVariables } from './condition.js';
import type { RuleConfig } from './schema.js';
import type { ViewAsApplied, ViewAsRequest } from './view-as.js';

export interface AuthzRequest {
  method: string;
  host: string;
  /** The raw `:path`; may include `?query` and `#fragment`, which matching ignores. */
  path: string;
  /** Looked up by lower-case name, only when a rule has header conditions (a Map will do). */
  headers: HeaderLookup;
  /** The workload identity, e.g. from `principalFromPeer`. */
  principal?: string;
  /**
   * The headers a `when` condition may read, one value per lower-case name: the request's headers minus
   * every header tollgate strips as identity, so a condition never reads a forged `x-user-id`. Asked
   * only when a condition runs; without it conditions see no headers.
   */
  conditionHeaders?: () => Record<string, string>;
  /** The proxy-set `direction` context extension (`inbound`, `egress`), if any. */
  direction?: string;
}

export type DecisionReason = 'allowed' | 'dry_run' | PolicyReason;

export type Decision = {
  /** The final answer; true also for dry-run would-denies. */
  allowed: boolean;
  /** The deciding rule; null when no rule matched or the path was rejected before any rule. */
  ruleId: string | null;
  /** Present when a dry-run rule (or global dry run) would have denied. */
  dryRun?: { wouldDeny: true; reason: PolicyReason; status: 'unauthenticated' | 'permission_denied' };
  /** Present when the deciding rule has a rollout: the arm this subject is in. */
  rollout?: { arm: RolloutArm; enforcePercent: number };
  /** Only in explain mode: sentences on why, for `tollgate check`. */
  explanation?: string[];
  /** On an allow by a rule with `internalToken`: the token to mint for the upstream. */
  internalToken?: { audience: string; exchange: boolean };
  /**
   * Context-source queries the deciding rule needed and `contextAnswers` did not answer; the decision
   * denies for want of them. Ask the sources and authorize again with the answers.
   */
  pending?: ContextQuery[];
  /** The view-as downgrade the deciding rule applied (allowed decisions only). */
  viewAs?: ViewAsApplied;
  /** Context-source answers the deciding rule accepted (allowed decisions only). */
  granted?: ContextGrant[];
} & (
  | { status: 'ok'; reason: 'allowed' | 'dry_run' | 'no_matching_rule' }
  | { status: 'unauthenticated' | 'permission_denied'; reason: PolicyReason }
);

export interface Policy {
  authorize(
    req: AuthzRequest,
    identity: Identity | null,
    opts?: { explain?: boolean; contextAnswers?: ContextAnswers; viewAs?: Pick<ViewAsRequest, 'role' | 'allows'> },
  ): Decision;
}

export interface PolicyOptions {
  defaultDecision: 'deny' | 'allow';
  /** Report would-denies but allow everything the rules (or the default) would deny. */
  dryRun?: boolean;
}

type Denial = Failure | { reason: 'no_matching_rule'; status: 'permission_denied' };

function withExplanation(decision: Decision, explain: string[] | null): Decision {
  if (explain) decision.explanation = explain;
  return decision;
}

/** Throws PolicyError naming the rule id and field when a rule cannot be compiled or ids repeat. */
export function compilePolicy(rules: RuleConfig[], options: PolicyOptions): Policy {
  const compiled: CompiledRule[] = [];
  const seen = new Set<string>();
  // A large API repeats a handful of requirements (a role or scope per group of routes), so rules whose
  // `require` reads the same share one compiled requirement: 10,000 rules held 6 MB of copies. What a
  // requirement compiles to does not depend on its rule (the rule's parameters only decide whether it
  // compiles, which compileRule has checked), and it keeps no per-request state.
  const requirements = new Map<string, CompiledRequirement>();
  for (const rule of rules) {
    if (seen.has(rule.id)) throw new PolicyError(rule.id, ['id'], 'duplicate rule id; rule ids must be unique');
    seen.add(rule.id);
    const own = compileRule(rule);
    const key = JSON.stringify(rule.require);
    const shared = requirements.get(key);
    if (shared === undefined) requirements.set(key, own.require);
    compiled.push(shared === undefined ? own : { ...own, require: shared });
  }
  const index = new RuleIndex(compiled.map((rule) => literalPrefixes(rule.match)));
  const globalDryRun = options.dryRun === true;
  const allowByDefault = options.defaultDecision === 'allow';

  /** A denial becomes a reported would-deny when dry run applies. */
  function deny(ruleId: string | null, failure: Denial, dryRun: boolean, explain: string[] | null): Decision {
    if (dryRun) {
      explain?.push(`dry run: would deny (${failure.reason}), allowed`);
      return withExplanation({ allowed: true, ruleId, reason: 'dry_run', status: 'ok', dryRun: { wouldDeny: true, ...failure } }, explain);
    }
    return withExplanation({ allowed: false, ruleId, reason: failure.reason, status: failure.status }, explain);
  }

  return {
    authorize(req, identity, opts) {
      const explain: string[] | null = opts?.explain ? [] : null;
      const normalized = normalizePath(req.path);
      if (!normalized.ok) {
        // Never relaxed by dry run: a path tollgate cannot read unambiguously has no safe answer.
        explain?.push(`path rejected before any rule: ${normalized.reason}`);
        return withExplanation({ allowed: false, ruleId: null, reason: 'invalid_path', status: 'permission_denied' }, explain);
      }
      const prepared: PreparedRequest = {
        method: req.method.toUpperCase(),
        host: normalizeHost(req.host),
        path: normalized.path,
        segments: normalized.segments,
        headers: req.headers,
        direction: req.direction,
      };
      explain?.push(`request: ${prepared.method} ${prepared.host || '(no host)'} ${prepared.path}`);

      // What `when` conditions read: the costly parts (header and query maps, the act chain, the
      // parameters) are built only for a condition that reads them, the maps at most once a request.
      let headers: Record<string, string> | undefined;
      let query: Record<string, string> | undefined;
      const variables = (needs: ConditionNeeds, params: Readonly<Record<string, string>>): ConditionVariables => {
        const claims = identity?.claims ?? {};
        return {
          request: {
            method: prepared.method,
            path: prepared.path,
            host: prepared.host,
            headers: needs.headers ? (headers ??= req.conditionHeaders?.() ?? {}) : NOT_READ,
            query: needs.query ? (query ??= firstQueryValues(req.path)) : NOT_READ,
          },
          params: needs.params ? { ...params } : NOT_READ,
          claims,
          token: { provider: identity?.provider ?? '' },
          peer: { principal: req.principal ?? '' },
          actors: needs.actors ? actorsOf(claims) : [],
        };
      };

      const params: Record<string, string> = Object.create(null) as Record<string, string>;
      const mismatch: string[] | null = explain ? [] : null; // receives why a rule did not match
      // Explaining walks every rule, so the output names each one skipped; deciding skips those whose
      // literal path prefix the request lacks: the same first match either way.
      const candidates = explain ? compiled.keys() : index.candidates(prepared.segments);
      for (const at of candidates) {
        const rule = compiled[at]!;
        if (!matches(rule.match, prepared, params, mismatch)) {
          if (mismatch) explain?.push(`rule '${rule.id}' skipped: ${mismatch.pop() ?? 'no match'}`);
          continue;
        }
        if (explain) {
          const bound = Object.entries(params).map(([k, v]) => `${k}=${v}`);
          explain.push(`rule '${rule.id}' matches${bound.length > 0 ? ` (${bound.join(', ')})` : ''}${rule.dryRun ? ' [dry run]' : ''}`);
        }
        // A fresh record per evaluation: `applied` is this decision's, never a previous round's.
        const viewAs: ViewAsRequest | undefined = opts?.viewAs && { role: opts.viewAs.role, allows: opts.viewAs.allows };
        const ctx: EvalContext = {
          identity,
          principal: req.principal,
          params,
          explain,
          contextAnswers: opts?.contextAnswers,
          pending: [],
          viewAs,
          granted: [],
          variables,
        };
        let failure = rule.require.evaluate(ctx);
        if (!failure && viewAs && !viewAs.applied) {
          // Asked to view as, but the rule has no context role to downgrade: refuse rather than ignore.
          explain?.push(`viewAs: rule '${rule.id}' decides no context role, so there is nothing to view as`);
          failure = { reason: 'view_as_not_allowed', status: 'permission_denied' };
        }
        let rollout: Decision['rollout'];
        if (rule.rollout) {
          const subject = rolloutSubject(identity?.claims, req.principal);
          rollout = { arm: rule.rollout.armFor(subject), enforcePercent: rule.rollout.enforcePercent };
          explain?.push(
            `rollout: enforced for ${rollout.enforcePercent}% of subjects; ${subject === undefined ? 'no subject' : `subject "${subject}"`} is in the ${rollout.arm} arm`,
          );
        }
        let decision: Decision;
        if (failure) {
          decision = deny(rule.id, failure, rule.dryRun || rollout?.arm === 'shadow' || globalDryRun, explain);
          if (ctx.pending.length > 0) decision.pending = ctx.pending;
        } else {
          explain?.push(`allowed by rule '${rule.id}'`);
          const allowed: Decision = { allowed: true, ruleId: rule.id, reason: 'allowed', status: 'ok' };
          if (rule.internalToken)
            allowed.internalToken = { audience: rule.internalToken.audience(params, prepared.host), exchange: rule.internalToken.exchange };
          if (viewAs?.applied) allowed.viewAs = viewAs.applied;
          if (ctx.granted.length > 0) allowed.granted = ctx.granted;
          decision = withExplanation(allowed, explain);
        }
        if (rollout) decision.rollout = rollout;
        return decision;
      }

      explain?.push(`no rule matches; defaultDecision is ${allowByDefault ? 'allow' : 'deny'}`);
      if (allowByDefault) return withExplanation({ allowed: true, ruleId: null, reason: 'no_matching_rule', status: 'ok' }, explain);
      return deny(null, { reason: 'no_matching_rule', status: 'permission_denied' }, globalDryRun, explain);
    },
  };
}

/** A map a condition does not read (see ConditionNeeds): empty, never built from the request. */
const NOT_READ: Record<string, string> = Object.freeze(Object.create(null) as Record<string, string>);

/** `request.query` of a condition: each parameter's first value, decoded; the fragment is not sent. */
function firstQueryValues(rawPath: string): Record<string, string> {
  const start = rawPath.indexOf('?');
  const query = Object.create(null) as Record<string, string>; // `__proto__` is a name like any other
  if (start === -1) return query;
  const end = rawPath.indexOf('#', start);
  for (const [name, value] of new URLSearchParams(rawPath.slice(start + 1, end === -1 ? undefined : end))) {
    if (!Object.hasOwn(query, name)) query[name] = value;
  }
  return query;
}
