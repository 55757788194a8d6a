import type { Logger } from '../observability/logger.js';
import { decidedClaims } from '../pipeline/decided-roles.js';
import type { Outcome } from '../pipeline/respond.js';
import type { RevocationStore } from '../revocation/index.js';
import type { Caller } from '../util/caller.js';
import type { InternalTokens } from './index.js';

/**
 * An allow by a rule with `internalToken` carries the minted token, or becomes a denial: a request
 * that should travel with an internal token never goes upstream with the external one instead.
 */
export function withInternalToken(
  outcome: Outcome,
  tokens: InternalTokens | undefined,
  caller: Caller | undefined,
  revocation: Pick<RevocationStore, 'check'> | undefined,
  logger: Logger,
): Outcome {
  if (outcome.kind !== 'allow' || !outcome.internalToken || outcome.dryRunReason) return outcome;
  const failed = (detail: string): Outcome => {
    logger.error({ rule: outcome.ruleId, error: detail }, 'internal token not minted; denying');
    return { kind: 'error' };
  };
  if (!tokens) return failed('the rule has internalToken but internalTokens is not configured');
  if (!outcome.token) return failed('the rule has internalToken but the request carried no verified token');
  const revoked = revocation && ((claims: { sub: string; iat: number; jti: string }) => revocation.check(claims).revoked !== null);
  // The token carries the roles the request was decided as (view-as, context-source grants), not the raw claim.
  const claims = decidedClaims(outcome.token.claims, outcome);
  if (!claims) return failed('the decision changed roles at a nested claim path, which a minted token cannot carry as decided');
  const result = tokens.issue(outcome.internalToken, claims, caller, revoked);
  if (result.ok) return { ...outcome, minted: { header: result.header, value: result.value } };
  if (result.denial === 'actor_chain_too_long') {
    return {
      kind: 'forbidden',
      reason: 'actor_chain_too_long',
      ruleId: outcome.ruleId,
      provider: outcome.token.provider.config.name,
      sub: outcome.token.claims.sub,
    };
  }
  return failed(result.detail);
}
