/** One rule compiled: its match and its requirements, both validated against each other. */
import { compileMatch, type CompiledMatch } from './match.js';
import { compileRequirement, type CompiledRequirement } from './requirements.js';
import type { RuleConfig } from './schema.js';

export interface CompiledRule {
  readonly id: string;
  readonly dryRun: boolean;
  readonly match: CompiledMatch;
  readonly require: CompiledRequirement;
}

/** Throws PolicyError naming the rule and the field. */
export function compileRule(rule: RuleConfig): CompiledRule {
  const match = compileMatch(rule.match, rule.id);
  // The match's parameters are what `{name}` references in requirements may use.
  const require = compileRequirement(rule.id, match.params, rule.require);
  return { id: rule.id, dryRun: rule.dryRun === true, match, require };
}
