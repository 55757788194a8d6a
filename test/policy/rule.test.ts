/**
 * `compileRule`: the compile cache the schema and the policy share, and where its own errors point.
 */
import { describe, expect, it } from 'vitest';
import { rulesSchema, type RuleConfig } from '../../src/policy/index.js';
import { PolicyError } from '../../src/policy/errors.js';
import { compileRule } from '../../src/policy/rule.js';

describe('compileRule: one compile per parsed rule', () => {
  it('answers the same compiled rule for the same parsed rule, and compiles another object afresh', () => {
    const [rule] = rulesSchema.parse([{ id: 'r', match: { paths: ['/r/{id}'] }, require: { authenticated: true } }]) as [RuleConfig];
    // rulesSchema compiled it while parsing; the policy gets that compile, not a second one.
    const compiled = compileRule(rule);
    expect(compileRule(rule)).toBe(compiled);
    const copy = compileRule({ ...rule });
    expect(copy).not.toBe(compiled);
    expect(copy.id).toBe('r');
  });
});

describe('compileRule: the exchange that does not match direction: egress', () => {
  const exchange = (match: RuleConfig['match']): RuleConfig => ({
    id: 'x',
    match,
    require: { authenticated: true },
    internalToken: { audience: '{host}', exchange: true },
  });

  it('names match.direction', () => {
    let error: unknown;
    try {
      compileRule(exchange({ hosts: ['payments.shop.svc'] }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).field).toEqual(['match', 'direction']);
    expect((error as PolicyError).message).toMatch(
      /^rule 'x': match\.direction: an internalToken with exchange: true must match direction: egress/,
    );
  });

  it('is reported by the schema at rules[i].match.direction', () => {
    const result = rulesSchema.safeParse([
      { id: 'ok', match: { paths: ['/**'] }, require: { anonymous: true } },
      exchange({ direction: 'inbound', hosts: ['payments.shop.svc'] }),
    ]);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([[1, 'match', 'direction']]);
  });
});
