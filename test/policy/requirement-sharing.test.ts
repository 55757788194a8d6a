/**
 * Rules whose `require` reads the same share one compiled requirement (memory: a large API repeats a
 * handful of requirements). Seen from outside only in the heap, so this test counts: every compiled
 * requirement is numbered as it is made (a pass-through mock of `compileRequirement`), and each
 * evaluation records the number of the requirement that ran.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { compilePolicy, rulesSchema } from '../../src/policy/index.js';
import type * as Requirements from '../../src/policy/requirements.js';
import { request } from './helpers.js';

const seen = vi.hoisted(() => ({ made: 0, ran: [] as number[] }));

vi.mock('../../src/policy/requirements.js', async (importOriginal) => {
  const actual = await importOriginal<typeof Requirements>();
  return {
    ...actual,
    compileRequirement: (...args: Parameters<typeof actual.compileRequirement>): Requirements.CompiledRequirement => {
      const compiled = actual.compileRequirement(...args);
      const number = ++seen.made;
      return {
        evaluate: (ctx) => {
          seen.ran.push(number);
          return compiled.evaluate(ctx);
        },
      };
    },
  };
});

describe('compilePolicy: one compiled requirement per distinct require', () => {
  beforeEach(() => {
    seen.made = 0;
    seen.ran = [];
  });

  it('gives every rule with the same require the first such rule’s compile, and another require its own', () => {
    const same = { scopes: { allOf: ['grades:read'] } };
    const rules = rulesSchema.parse([
      { id: 'a', match: { paths: ['/a'] }, require: same },
      { id: 'b', match: { paths: ['/b/{id}'] }, require: { scopes: { allOf: ['grades:read'] } } },
      { id: 'other', match: { paths: ['/other'] }, require: { scopes: { allOf: ['grades:write'] } } },
      { id: 'c', match: { methods: ['POST'], paths: ['/c'] }, require: same },
    ]);
    // Parsing compiled each rule once, in order: requirements 1 to 4.
    expect(seen.made).toBe(4);
    const policy = compilePolicy(rules, { defaultDecision: 'deny' });
    expect(seen.made).toBe(4);
    const holder = { provider: 'idp', claims: { sub: 'u', scope: 'grades:read' } };
    expect(policy.authorize(request('GET', '/a'), holder).ruleId).toBe('a');
    expect(policy.authorize(request('GET', '/b/7'), holder).ruleId).toBe('b');
    expect(policy.authorize(request('POST', '/c'), holder).ruleId).toBe('c');
    expect(policy.authorize(request('GET', '/other'), holder)).toMatchObject({ ruleId: 'other', reason: 'missing_scope' });
    expect(seen.ran).toEqual([1, 1, 1, 3]);
  });
});
