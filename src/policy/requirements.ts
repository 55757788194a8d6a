/**
 * A rule's `require`, compiled once into a list of checks. Each check answers pass (null) or a
 * failure with a short reason; when explaining, it also writes one sentence. Sentences name what was
 * required and what the path bound, never the token's claim values.
 */
import type { PolicyReason } from '../reasons.js';
import { asList, compileClaimPath, isObject, own, readClaim, type ClaimPath, type JsonObject } from '../util/claim-path.js';
import { PolicyError, type FieldPath } from './errors.js';
import { compilePrincipals } from './peer.js';
import { intern } from '../util/intern.js';
import { compileActorCheck } from './actor.js';
import { compileCondition, type CompiledCondition, type ConditionNeeds, type ConditionVariables } from './condition.js';
import type { ClaimConditionConfig, RequireConfig, RequirementSetConfig } from './schema.js';
import type { ViewAsRequest } from './view-as.js';

/** Verified token claims; the pipeline has checked signature, issuer, audience and expiry. */
export interface Identity {
  provider: string;
  claims: Record<string, unknown>;
}

/** The reasons a requirement gives; the others of the catalogue's policy stage are the policy's own. */
export type DenyReason = Exclude<PolicyReason, 'no_matching_rule' | 'invalid_path'>;

export interface Failure {
  reason: DenyReason;
  status: 'unauthenticated' | 'permission_denied';
}

/** A question for a context source: which roles `sub` holds in `context` `id`. */
export interface ContextQuery {
  readonly source: string;
  /** The token's provider: a subject is one user only within the provider that issued it. */
  readonly provider: string;
  readonly sub: string;
  readonly context: string;
  readonly id: string;
}

/**
 * Context-source answers the caller already has: roles, null when the source failed, undefined when
 * not asked yet. The policy stays synchronous: an unanswered query is recorded in `pending` and the
 * check denies; the caller asks the source and authorizes again with the answer.
 */
export interface ContextAnswers {
  get(query: ContextQuery): readonly string[] | null | undefined;
}

export interface EvalContext {
  readonly identity: Identity | null;
  readonly principal: string | undefined;
  readonly params: Readonly<Record<string, string>>;
  readonly explain: string[] | null;
  readonly contextAnswers: ContextAnswers | undefined;
  /** Receives the queries this evaluation needed and did not have answered. */
  readonly pending: ContextQuery[];
  /** The request's view-as ask; a contextRole check that applies it records so in `applied`. */
  readonly viewAs: ViewAsRequest | undefined;
  /** Receives the context-source answers that satisfied a contextRole, for the injected headers. */
  readonly granted: ContextGrant[];
  /** What a `when` condition reads, with these `params`; only the costly parts it `needs` are built. */
  readonly variables: (needs: ConditionNeeds, params: Readonly<Record<string, string>>) => ConditionVariables;
}

/** Roles a context source answered and a contextRole accepted: `claim` is the contextRole's claim path. */
export interface ContextGrant {
  readonly claim: string;
  readonly context: string;
  readonly id: string;
  readonly roles: readonly string[];
}

export interface CompiledRequirement {
  evaluate(ctx: EvalContext): Failure | null;
}

const denied = (reason: DenyReason): Failure => ({ reason, status: 'permission_denied' });
const AUTHENTICATION_REQUIRED: Failure = { reason: 'authentication_required', status: 'unauthenticated' };

/** A check on a verified identity (user requirements); peer checks take the context instead. */
type UserCheck = (identity: Identity, ctx: EvalContext) => Failure | null;

export interface Scope {
  readonly ruleId: string;
  /** Parameters every path of the rule binds, or null when the rule has no paths. */
  readonly params: readonly string[] | null;
}

/** `roles`, the claim `roles` and `contextRole` read unless told otherwise: one path for every rule. */
const ROLES_CLAIM: ClaimPath = Object.freeze({ source: 'roles', parts: Object.freeze(['roles']) as string[] });

function claimPath(scope: Scope, field: FieldPath, source: string): ClaimPath {
  if (source === ROLES_CLAIM.source) return ROLES_CLAIM;
  const compiled = compileClaimPath(source);
  if (!compiled.ok) throw new PolicyError(scope.ruleId, field, compiled.message);
  return compiled.path;
}

const listText = (values: readonly string[]) => values.join(', ');

/** `allOf`/`anyOf` over a set of strings the identity holds (scopes, roles). */
function compileSetCheck(
  scope: Scope,
  field: FieldPath,
  config: { allOf?: string[] | undefined; anyOf?: string[] | undefined },
  kind: { key: 'scopes' | 'roles'; label: string; reason: DenyReason; held: (identity: Identity) => ReadonlySet<string> },
): UserCheck {
  const { allOf, anyOf } = config;
  const { key, label: what, reason, held } = kind;
  if (!allOf && !anyOf) {
    throw new PolicyError(
      scope.ruleId,
      field,
      `give allOf and/or anyOf, e.g. ${key}: { anyOf: [${key === 'roles' ? 'admin' : 'courses:read'}] }`,
    );
  }
  return (identity, ctx) => {
    const has = held(identity);
    if (allOf && !allOf.every((v) => has.has(v))) {
      ctx.explain?.push(`${what}: the token lacks at least one of ${listText(allOf)} (all required)`);
      return denied(reason);
    }
    if (anyOf && !anyOf.some((v) => has.has(v))) {
      ctx.explain?.push(`${what}: the token has none of ${listText(anyOf)}`);
      return denied(reason);
    }
    ctx.explain?.push(`${what}: satisfied`);
    return null;
  };
}

const SCOPE_CLAIMS: readonly ClaimPath[] = [
  { source: 'scope', parts: ['scope'] },
  { source: 'scp', parts: ['scp'] },
];

function scopesOf(identity: Identity): ReadonlySet<string> {
  const out = new Set<string>();
  for (const path of SCOPE_CLAIMS) {
    for (const value of asList(readClaim(identity.claims, path))) {
      if (typeof value !== 'string') continue;
      for (const scope of value.split(' ')) if (scope !== '') out.add(scope);
    }
  }
  return out;
}

function stringsAt(claims: JsonObject, path: ClaimPath): ReadonlySet<string> {
  const out = new Set<string>();
  for (const value of asList(readClaim(claims, path))) if (typeof value === 'string') out.add(value);
  return out;
}

function compileClaimCondition(scope: Scope, field: FieldPath, condition: ClaimConditionConfig): UserCheck {
  const path = claimPath(scope, [...field, 'path'], condition.path);
  const given = [condition.equals, condition.oneOf, condition.contains].filter((v) => v !== undefined).length;
  if (given !== 1)
    throw new PolicyError(scope.ruleId, field, `give exactly one of equals, oneOf or contains for claim "${condition.path}"`);
  // What an explanation says when the condition holds, and when it does not.
  let test: (value: unknown) => boolean;
  let holds: string;
  let fails: string;
  if (condition.equals !== undefined) {
    const expected = condition.equals;
    test = (v) => v === expected;
    holds = `equals ${JSON.stringify(expected)}`;
    fails = `does not equal ${JSON.stringify(expected)}`;
  } else if (condition.oneOf !== undefined) {
    const allowed = condition.oneOf;
    test = (v) => allowed.includes(v as string | number | boolean);
    const list = allowed.map((v) => JSON.stringify(v)).join(', ');
    holds = `is one of ${list}`;
    fails = `is not one of ${list}`;
  } else {
    const needle = condition.contains;
    test = (v) => asList(v).includes(needle);
    holds = `contains ${JSON.stringify(needle)}`;
    fails = `does not contain ${JSON.stringify(needle)}`;
  }
  return (identity, ctx) => {
    if (test(readClaim(identity.claims, path))) {
      ctx.explain?.push(`claim ${path.source}: ${holds}`);
      return null;
    }
    ctx.explain?.push(`claim ${path.source}: ${fails}`);
    return denied('claim_mismatch');
  };
}

/** A part of an id template: literal text or a path parameter's name. */
type IdPart = { literal: string } | { param: string };

/**
 * `"{courseId}"`, `"course-{courseId}"` or a literal, compiled: data that `resolveId` reads against the
 * bound parameters. The common `"{courseId}"` is its one part, `{ param }`: no list, no closure.
 */
export type IdTemplate = { readonly param: string } | readonly IdPart[];

export function compileIdTemplate(scope: Scope, field: FieldPath, source: string): IdTemplate {
  const parts: IdPart[] = [];
  const pattern = /\{([^{}]*)\}|[^{}]+|[{}]/g;
  for (const [token, name] of source.matchAll(pattern)) {
    if (name === undefined) {
      if (token === '{' || token === '}')
        throw new PolicyError(scope.ruleId, field, `"${source}" has an unbalanced brace; reference a path parameter as {courseId}`);
      parts.push({ literal: token });
      continue;
    }
    if (scope.params === null || !scope.params.includes(name)) {
      throw new PolicyError(
        scope.ruleId,
        field,
        scope.params === null
          ? `{${name}} needs a path parameter, but the rule has no match.paths; add a path such as "/courses/{${name}}/**"`
          : `{${name}} is not a parameter of every path in match.paths; bind it in each path or split the rule`,
      );
    }
    parts.push({ param: intern(name) });
  }
  const [only] = parts;
  if (parts.length === 1 && only !== undefined && 'param' in only) return only;
  return parts.slice(); // a copy of its exact length: an array grown by push keeps room for 17
}

/** The id a template names for these parameters; a parameter not bound reads as "". */
export function resolveId(template: IdTemplate, params: Readonly<Record<string, string>>): string {
  if ('param' in template) return params[template.param] ?? '';
  return template.map((p) => ('literal' in p ? p.literal : (params[p.param] ?? ''))).join('');
}

function compileContextRole(scope: Scope, field: FieldPath, config: NonNullable<RequirementSetConfig['contextRole']>): UserCheck {
  const path = claimPath(scope, [...field, 'claim'], config.claim ?? 'roles');
  const idTemplate = compileIdTemplate(scope, [...field, 'id'], config.id);
  const { context, anyOf, fallback } = config;
  return (identity, ctx) => {
    const id = resolveId(idTemplate, ctx.params);
    const roles = readClaim(identity.claims, path);
    const byRole = isObject(roles) ? own(roles, context) : undefined;
    const held = isObject(byRole) ? rolesListing(byRole, id) : [];
    if (held.length === 0 && fallback !== undefined) {
      // The token grants nothing for this object: it may list only the contexts used lately, so the
      // source decides. A token that lists this id decides alone (a permission refresh covers staleness).
      ctx.explain?.push(`contextRole: the token grants no role for ${context} "${id}"; asking ${fallback}`);
      const answered = fromSource(fallback, identity, context, id, ctx);
      if ('reason' in answered) return answered;
      const failure = judgeRoles(answered, { anyOf, context, id, claim: path.source, holder: fallback }, ctx);
      if (!failure) ctx.granted.push({ claim: path.source, context, id, roles: answered });
      return failure;
    }
    if (fallback !== undefined) ctx.explain?.push(`contextRole: the token grants roles for ${context} "${id}"; ${fallback} not asked`);
    return judgeRoles(held, { anyOf, context, id, claim: path.source, holder: 'the token' }, ctx);
  };
}

/** The roles under one context whose id list holds `id`. JSON ids may be numbers (`[123]`): compared as their decimal text. */
function rolesListing(byRole: JsonObject, id: string): string[] {
  return Object.keys(byRole).filter((role) =>
    asList(own(byRole, role)).some(
      (held) => held === id || (typeof held === 'number' && Number.isSafeInteger(held) && String(held) === id),
    ),
  );
}

/** The held roles against `anyOf`, after a view-as downgrade when the request asks for one. */
function judgeRoles(
  held: readonly string[],
  what: { anyOf: readonly string[]; context: string; id: string; claim: string; holder: string },
  ctx: EvalContext,
): Failure | null {
  const { anyOf, context, id, claim, holder } = what;
  let effective = held;
  const viewAs = ctx.viewAs;
  if (viewAs !== undefined) {
    if (!held.some((role) => viewAs.allows(role))) {
      ctx.explain?.push(`viewAs: no role ${holder} gives for ${context} "${id}" may view as ${viewAs.role}`);
      return denied('view_as_not_allowed');
    }
    effective = [viewAs.role];
    viewAs.applied = { role: viewAs.role, context, id, claim };
    ctx.explain?.push(`viewAs: decided as ${viewAs.role} for ${context} "${id}"`);
  }
  const role = anyOf.find((r) => effective.includes(r));
  if (role !== undefined) {
    ctx.explain?.push(`contextRole: ${holder} ${holder === 'the token' ? 'has' : 'gives'} role ${role} for ${context} "${id}"`);
    return null;
  }
  ctx.explain?.push(
    holder === 'the token'
      ? `contextRole: the token has none of ${listText(anyOf)} for ${context} "${id}" (claim ${claim})`
      : `contextRole: ${holder} gives none of ${listText(anyOf)} for ${context} "${id}"`,
  );
  return denied('context_role_mismatch');
}

/** The token does not list the context at all: the context source's answer (roles), or the failure. */
function fromSource(source: string, identity: Identity, context: string, id: string, ctx: EvalContext): readonly string[] | Failure {
  const sub = identity.claims.sub;
  if (typeof sub !== 'string' || sub === '') {
    ctx.explain?.push(`contextRole: the token has no sub to ask ${source} about`);
    return denied('context_role_mismatch');
  }
  const query: ContextQuery = { source, provider: identity.provider, sub, context, id };
  const roles = ctx.contextAnswers?.get(query);
  if (roles === undefined) {
    ctx.pending.push(query);
    ctx.explain?.push(`contextRole: ${source} must be asked`);
    return denied('context_source_unavailable');
  }
  if (roles === null) {
    ctx.explain?.push(`contextRole: ${source} did not answer (failed or timed out)`);
    return denied('context_source_unavailable');
  }
  return roles;
}

/** One requirement set: the keys of `require` (without `anyOf`) or of one `anyOf` alternative. */
function compileSet(scope: Scope, field: FieldPath, set: RequirementSetConfig): CompiledRequirement {
  const userChecks: UserCheck[] = [];

  if (set.providers) {
    const providers = new Set(set.providers);
    const list = set.providers;
    userChecks.push((identity, ctx) => {
      if (providers.has(identity.provider)) {
        ctx.explain?.push(`providers: token from ${identity.provider} is accepted`);
        return null;
      }
      ctx.explain?.push(`providers: the token's provider is not one of ${listText(list)}`);
      return denied('provider_not_allowed');
    });
  }
  if (set.scopes) {
    userChecks.push(
      compileSetCheck(scope, [...field, 'scopes'], set.scopes, { key: 'scopes', label: 'scopes', reason: 'missing_scope', held: scopesOf }),
    );
  }
  if (set.roles) {
    const path = claimPath(scope, [...field, 'roles', 'claim'], set.roles.claim ?? 'roles');
    userChecks.push(
      compileSetCheck(scope, [...field, 'roles'], set.roles, {
        key: 'roles',
        label: `roles (claim ${path.source})`,
        reason: 'missing_role',
        held: (identity) => stringsAt(identity.claims, path),
      }),
    );
  }
  for (const [i, condition] of (set.claims ?? []).entries()) {
    userChecks.push(compileClaimCondition(scope, [...field, 'claims', i], condition));
  }
  if (set.contextRole) {
    userChecks.push(compileContextRole(scope, [...field, 'contextRole'], set.contextRole));
  }
  if (set.actor) {
    const check = compileActorCheck(scope.ruleId, [...field, 'actor'], set.actor);
    userChecks.push((identity, ctx) => check(identity, ctx.explain));
  }

  const condition = set.when === undefined ? null : compileCondition(scope.ruleId, [...field, 'when'], set.when);
  const needsUser = set.authenticated === true || userChecks.length > 0;
  let peer: ((principal: string) => boolean) | null = null;
  if (set.peer) {
    const compiled = compilePrincipals(set.peer.principals);
    if (!compiled.ok) throw new PolicyError(scope.ruleId, [...field, 'peer', 'principals', compiled.index], compiled.message);
    peer = compiled.matches;
  }
  if (!needsUser && peer === null && condition === null) {
    throw new PolicyError(
      scope.ruleId,
      field,
      'no requirement given; state who may pass, or write require: { anonymous: true } to open the route',
    );
  }
  // A copy of its exact length: an array grown by push keeps room for 17.
  return new RequirementSet(peer, needsUser, userChecks.slice(), condition);
}

/**
 * One compiled requirement set, as data read by its `evaluate`: a class rather than a closure, whose
 * captured scope cost twice the memory in a policy of 10,000 rules that each have their own.
 */
class RequirementSet implements CompiledRequirement {
  constructor(
    private readonly matchesPeer: ((principal: string) => boolean) | null,
    private readonly needsUser: boolean,
    private readonly checks: readonly UserCheck[],
    private readonly condition: CompiledCondition | null,
  ) {}

  evaluate(ctx: EvalContext): Failure | null {
    const { matchesPeer, needsUser, checks, condition } = this;
    // Peer first: a token cannot fix a wrong workload, so 403 beats a 401 the client cannot act on.
    if (matchesPeer !== null) {
      if (ctx.principal === undefined || !matchesPeer(ctx.principal)) {
        ctx.explain?.push(
          ctx.principal === undefined ? 'peer: no workload identity was presented' : `peer: ${ctx.principal} is not an allowed workload`,
        );
        return denied('peer_not_allowed');
      }
      ctx.explain?.push(`peer: ${ctx.principal} is allowed`);
    }
    if (needsUser) {
      if (ctx.identity === null) {
        ctx.explain?.push('a verified token is required and none was presented');
        return AUTHENTICATION_REQUIRED;
      }
      for (const check of checks) {
        const failure = check(ctx.identity, ctx);
        if (failure) return failure;
      }
      if (checks.length === 0) ctx.explain?.push(`authenticated: token from ${ctx.identity.provider}`);
    }
    if (condition === null) return null;
    const variables = ctx.variables(condition.needs, ctx.params);
    if (condition.holds(variables)) {
      ctx.explain?.push(`when: ${condition.source} is true`);
      return null;
    }
    if (ctx.explain) {
      const clause = condition.falseClause(variables);
      ctx.explain.push(
        `when: ${condition.source} is false${clause !== undefined && clause !== condition.source ? ` (${clause} is false)` : ''}`,
      );
    }
    return denied('condition_not_met');
  }
}

const USER_KEYS = ['authenticated', 'providers', 'scopes', 'roles', 'claims', 'contextRole', 'actor'] as const;

/**
 * Compiles `require`. Semantics: every key beside `anyOf` must hold, then at least one alternative.
 * When all alternatives fail: 401 if one failed only for lack of a token (a token might help), the
 * shared reason if they agree, else `no_alternative_satisfied`.
 */
export function compileRequirement(ruleId: string, params: readonly string[] | null, config: RequireConfig): CompiledRequirement {
  const scope: Scope = { ruleId, params };
  const { anonymous, anyOf, ...rest } = config;
  if (anonymous) {
    const extra = Object.keys(rest).filter((k) => rest[k as keyof typeof rest] !== undefined);
    if (anyOf) extra.push('anyOf');
    if (extra.length > 0) {
      throw new PolicyError(
        ruleId,
        ['require', 'anonymous'],
        `anonymous: true opens the route and cannot be combined with ${extra.join(', ')}; remove anonymous, or the other keys`,
      );
    }
    return {
      evaluate(ctx) {
        ctx.explain?.push('anonymous: no identity required');
        return null;
      },
    };
  }

  const hasOwnRequirements = USER_KEYS.some((k) => rest[k] !== undefined) || rest.peer !== undefined || rest.when !== undefined;
  if (!hasOwnRequirements && !anyOf) {
    throw new PolicyError(
      ruleId,
      ['require'],
      'no requirement given; state who may pass, or write require: { anonymous: true } to open the route',
    );
  }
  const base = hasOwnRequirements ? compileSet(scope, ['require'], rest) : null;
  const alternatives = (anyOf ?? []).map((alternative, i) => compileSet(scope, ['require', 'anyOf', i], alternative));
  return requirementOf(base, alternatives);
}

/**
 * The per-request test of a `require`, in a function of its own so that it keeps only the compiled sets:
 * made in compileRequirement, it kept that scope's `rest`, and through it the parsed config of every rule.
 */
function requirementOf(base: CompiledRequirement | null, alternatives: readonly CompiledRequirement[]): CompiledRequirement {
  // Without anyOf the set is the requirement: no wrapper, closure and scope more for each rule.
  if (alternatives.length === 0 && base !== null) return base;
  return {
    evaluate(ctx) {
      if (base) {
        const failure = base.evaluate(ctx);
        if (failure) return failure;
      }
      const failures: Failure[] = [];
      for (const [i, alternative] of alternatives.entries()) {
        const from = ctx.explain?.length ?? 0;
        const failure = alternative.evaluate(ctx);
        if (ctx.explain) {
          for (let line = from; line < ctx.explain.length; line++) ctx.explain[line] = `anyOf[${i}]: ${ctx.explain[line]}`;
        }
        if (!failure) return null;
        failures.push(failure);
      }
      if (failures.some((f) => f.status === 'unauthenticated')) return AUTHENTICATION_REQUIRED;
      const [first] = failures;
      return first && failures.every((f) => f.reason === first.reason) ? first : denied('no_alternative_satisfied');
    },
  };
}
