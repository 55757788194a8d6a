/**
 * `match.direction`: the `direction` context extension the Envoy listener sets. Issue 36: an exchange
 * rule must never decide an inbound request, whose Host the client chooses.
 */
import { describe, expect, it } from 'vitest';
import { compilePolicy, rulesSchema } from '../../src/policy/index.js';
import { request } from './helpers.js';

const compile = (rules: unknown) => compilePolicy(rulesSchema.parse(rules), { defaultDecision: 'deny' });

describe('match.direction', () => {
  const policy = compile([
    { id: 'out', match: { direction: 'egress' }, require: { anonymous: true } },
    { id: 'in', match: { direction: 'inbound', paths: ['/**'] }, require: { anonymous: true } },
  ]);

  it('matches only the direction the proxy set; a request without one matches neither', () => {
    expect(policy.authorize(request('GET', '/x', { direction: 'egress' }), null).ruleId).toBe('out');
    expect(policy.authorize(request('GET', '/x', { direction: 'inbound' }), null).ruleId).toBe('in');
    expect(policy.authorize(request('GET', '/x'), null)).toMatchObject({ ruleId: null, reason: 'no_matching_rule' });
    expect(policy.authorize(request('GET', '/x', { direction: 'sideways' }), null).ruleId).toBeNull();
  });

  it('a rule without direction matches requests from every listener, and from none', () => {
    const any = compile([{ id: 'any', match: { paths: ['/**'] }, require: { anonymous: true } }]);
    expect(any.authorize(request('GET', '/x', { direction: 'egress' }), null).ruleId).toBe('any');
    expect(any.authorize(request('GET', '/x', { direction: 'inbound' }), null).ruleId).toBe('any');
    expect(any.authorize(request('GET', '/x'), null).ruleId).toBe('any');
  });

  it("explains a rule skipped for its direction, naming the request's direction or its absence", () => {
    const skipped = (extra: { direction?: string }) =>
      policy.authorize(request('GET', '/x', extra), null, { explain: true }).explanation?.filter((l) => l.includes('skipped'));
    expect(skipped({ direction: 'inbound' })).toEqual(["rule 'out' skipped: direction inbound is not egress"]);
    expect(skipped({})).toEqual([
      "rule 'out' skipped: direction (none) is not egress",
      "rule 'in' skipped: direction (none) is not inbound",
    ]);
  });

  it('refuses an exchange rule that does not match direction: egress', () => {
    const exchange = (match: Record<string, unknown>) => () =>
      compile([{ id: 'x', match, require: { authenticated: true }, internalToken: { audience: '{host}', exchange: true } }]);
    expect(exchange({ hosts: ['payments.shop.svc'] })).toThrow(/exchange: true must match direction: egress/);
    expect(exchange({ direction: 'inbound', hosts: ['payments.shop.svc'] })).toThrow(/direction: egress/);
    expect(exchange({ direction: 'egress', hosts: ['payments.shop.svc'] })).not.toThrow();
    expect(() => rulesSchema.parse([{ id: 'x', match: { direction: 'out' }, require: { anonymous: true } }])).toThrow(/inbound or egress/);
  });
});
