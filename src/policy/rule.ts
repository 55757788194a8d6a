/** One rule compiled: its match and its requirements, both validated against each other. */
import { compileMatch, type CompiledMatch } from './match.js';
import { compileIdTemplate, compileRequirement, resolveId, type CompiledRequirement } from './requirements.js';
import { PolicyError } from './errors.js';
import { compileRollout, type Rollout } from './rollout.js';
import type { RuleConfig } from './schema.js';

export interface CompiledRule {
  readonly id: string;
  readonly dryRun: boolean;
  /** Gradual enforcement: which subjects the rule is enforced for; the rest get dry run. */
  readonly rollout?: Rollout;
  readonly match: CompiledMatch;
  readonly require: CompiledRequirement;
  /** `internalToken`: the audience for this request (path parameters and `host` bound) and whether it is an exchange. */
  readonly internalToken?: { audience: (params: Readonly<Record<string, string>>, host: string) => string; exchange: boolean };
}

/**
 * Compiled once per parsed rule: the config schema compiles every rule to report errors with their
 * field, and the policy then uses what it compiled. A policy of 10,000 rules compiled twice doubled its
 * start time. Parsed configs are never changed, so the rule object is a sound key.
 */
const compiledRules = new WeakMap<RuleConfig, CompiledRule>();

/** Throws PolicyError naming the rule and the field. */
export function compileRule(rule: RuleConfig): CompiledRule {
  let compiled = compiledRules.get(rule);
  if (!compiled) compiledRules.set(rule, (compiled = compileRuleOnce(rule)));
  return compiled;
}

function compileRuleOnce(rule: RuleConfig): CompiledRule {
  const { match, params } = compileMatch(rule.match, rule.id);
  // The match's parameters are what `{name}` references in requirements may use.
  const require = compileRequirement(rule.id, params, rule.require);
  let internalToken: CompiledRule['internalToken'];
  if (rule.internalToken) {
    // `{host}` is the request's host; every other `{name}` a parameter bound by every path.
    const audience = compileIdTemplate(
      { ruleId: rule.id, params: [...(params ?? []), 'host'] },
      ['internalToken', 'audience'],
      rule.internalToken.audience,
    );
    internalToken = {
      audience: (params, host) => resolveId(audience, { ...params, host }),
      exchange: rule.internalToken.exchange === true,
    };
    // On an inbound request the client chooses Host, and so `{host}` and any host match: only the
    // listener's own `direction` keeps an exchange from deciding a request that came from outside.
    if (internalToken.exchange && rule.match.direction !== 'egress') {
      throw new PolicyError(
        rule.id,
        ['match', 'direction'],
        "an internalToken with exchange: true must match direction: egress (set by the egress listener's context_extensions), so an inbound request can never be decided by it",
      );
    }
  }
  if (rule.rollout && rule.dryRun !== undefined) {
    throw new PolicyError(
      rule.id,
      ['rollout'],
      'give dryRun or rollout, not both: rollout: { enforcePercent: 0 } is dryRun: true, 100 is dryRun: false',
    );
  }
  return {
    id: rule.id,
    dryRun: rule.dryRun === true,
    rollout: rule.rollout && compileRollout(rule.id, rule.rollout),
    match,
    require,
    internalToken,
  };
}
