/**
 * `require.actor`: the token's RFC 8693 `act` chain must name one of these workloads — the gateway
 * that minted it, or a service that exchanged it on the way. The chain is read to `maxChainDepth`
 * actors at most; a longer one is refused whatever it contains.
 */
import { DEFAULT_MAX_CHAIN_DEPTH, readActorChain } from '../util/actor-chain.js';
import { PolicyError, type FieldPath } from './errors.js';
import { compilePrincipals } from './peer.js';
import type { Failure, Identity } from './requirements.js';

export interface ActorRequirementConfig {
  principals: string[];
  maxChainDepth?: number;
}

export function compileActorCheck(
  ruleId: string,
  field: FieldPath,
  config: ActorRequirementConfig,
): (identity: Identity, explain: string[] | null) => Failure | null {
  const compiled = compilePrincipals(config.principals);
  if (!compiled.ok) throw new PolicyError(ruleId, [...field, 'principals', compiled.index], compiled.message);
  const matches = compiled.matches;
  const maxDepth = config.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH;
  return (identity, explain) => {
    const chain = readActorChain(identity.claims.act, maxDepth);
    if (!chain.ok) {
      explain?.push(chain.reason === 'too_long' ? `actor: the act chain is longer than ${maxDepth}` : 'actor: the act claim is malformed');
      return { reason: chain.reason === 'too_long' ? 'actor_chain_too_long' : 'actor_not_allowed', status: 'permission_denied' };
    }
    const found = chain.principals.find((p) => matches(p));
    if (found !== undefined) {
      explain?.push(`actor: ${found} is in the act chain`);
      return null;
    }
    explain?.push(
      chain.principals.length === 0
        ? 'actor: the token has no act claim'
        : `actor: none of ${chain.principals.join(' → ')} is an allowed actor`,
    );
    return { reason: 'actor_not_allowed', status: 'permission_denied' };
  };
}
