/**
 * An exact principal (a list entry without `/*`) admits that workload only: never a longer ID that
 * starts with it, in `peer.principals` and in `require.actor.principals` alike.
 */
import { describe, expect, it } from 'vitest';
import { compilePolicy, rulesSchema } from '../../src/policy/index.js';
import { request } from './helpers.js';

const GATEWAY = 'spiffe://cluster.local/ns/edge/sa/gateway';
const EVIL = `${GATEWAY}-evil`;

const policy = compilePolicy(
  rulesSchema.parse([
    { id: 'peer', match: { paths: ['/peer'] }, require: { peer: { principals: [GATEWAY] } } },
    { id: 'actor', match: { paths: ['/actor'] }, require: { actor: { principals: [GATEWAY] } } },
  ]),
  { defaultDecision: 'deny' },
);

describe('exact principal entries', () => {
  it('peer.principals: the listed workload passes, a longer ID starting with it does not', () => {
    expect(policy.authorize(request('GET', '/peer', { principal: GATEWAY }), null).reason).toBe('allowed');
    expect(policy.authorize(request('GET', '/peer', { principal: EVIL }), null).reason).toBe('peer_not_allowed');
    expect(policy.authorize(request('GET', '/peer', { principal: `${GATEWAY}/x` }), null).reason).toBe('peer_not_allowed');
  });

  it('require.actor.principals: the same for the act chain', () => {
    const acting = (sub: string) => ({ provider: 'idp', claims: { sub: 'u', act: { sub } } });
    expect(policy.authorize(request('GET', '/actor'), acting(GATEWAY)).reason).toBe('allowed');
    expect(policy.authorize(request('GET', '/actor'), acting(EVIL)).reason).toBe('actor_not_allowed');
  });
});
