/** The authorization policy: compile the `rules:` once, then `authorize` each request. */
export {
  rulesSchema,
  defaultDecisionSchema,
  type RuleConfig,
  type MatchConfig,
  type RequireConfig,
  type RequirementSetConfig,
  type HeaderConditionConfig,
  type ClaimConditionConfig,
} from './schema.js';
export { normalizePath, type NormalizedPath } from './path.js';
export { normalizeHost, type HeaderLookup } from './match.js';
export { principalFromPeer } from './peer.js';
export type { Identity, DenyReason, ContextAnswers, ContextGrant, ContextQuery } from './requirements.js';
export { compilePolicy, type AuthzRequest, type Decision, type DecisionReason, type Policy, type PolicyOptions } from './policy.js';
export {
  viewAsConfigSchema,
  viewAsRequest,
  VIEW_AS_INJECTED_HEADER,
  type ViewAsConfig,
  type ViewAsApplied,
  type ViewAsRequest,
} from './view-as.js';
export { PolicyError, formatFieldPath, type FieldPath } from './errors.js';
export type { RolloutArm } from './rollout.js';
