/**
 * `require.actor` (issue 34): the listed workload may be anywhere in the RFC 8693 act chain — the
 * outer actor (the latest hop), a middle one, or the innermost (the gateway that minted).
 */
import { describe, expect, it } from 'vitest';
import { compilePolicy, rulesSchema } from '../../src/policy/index.js';
import { request } from './helpers.js';

const OUTER = 'spiffe://test.local/ns/shop/sa/orders';
const MIDDLE = 'spiffe://test.local/ns/shop/sa/cart';
const INNER = 'spiffe://test.local/ns/edge/sa/gateway';
const act = { sub: OUTER, act: { sub: MIDDLE, act: { sub: INNER } } };

const policyFor = (principal: string) =>
  compilePolicy(rulesSchema.parse([{ id: 'r', match: { paths: ['/**'] }, require: { actor: { principals: [principal] } } }]), {
    defaultDecision: 'deny',
  });
const decide = (principal: string) => policyFor(principal).authorize(request('GET', '/x'), { provider: 'p', claims: { sub: 'u', act } });

describe('require.actor and the position of the actor in the chain', () => {
  it.each([
    ['outer', OUTER],
    ['middle', MIDDLE],
    ['innermost', INNER],
  ])('holds when the listed principal is the %s actor', (_position, principal) => {
    expect(decide(principal)).toMatchObject({ allowed: true, ruleId: 'r' });
  });

  it('fails when the chain does not name it', () => {
    expect(decide('spiffe://test.local/ns/shop/sa/other')).toMatchObject({ allowed: false, reason: 'actor_not_allowed' });
  });
});
