/**
 * The rule index must never change an answer: for any policy and any request, the first rule that
 * matches is the same whether the policy walks every rule (as it does when explaining) or only the
 * index's candidates (as it does when deciding).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicy, rulesSchema, type Decision, type Identity } from '../../src/policy/index.js';
import { compileMatch, literalPrefixes } from '../../src/policy/match.js';
import { RuleIndex } from '../../src/policy/rule-index.js';
import { request } from './helpers.js';

const SEGMENTS = ['a', 'b', 'c'];
const templateSegment = fc.constantFrom(...SEGMENTS, '*', '{p}');
const template = fc.tuple(fc.array(templateSegment, { maxLength: 3 }), fc.boolean()).map(([segments, rest]) => {
  // Parameter names must be unique within a template.
  let n = 0;
  const parts = segments.map((s) => (s === '{p}' ? `{p${n++}}` : s));
  const path = `/${[...parts, ...(rest ? ['**'] : [])].join('/')}`;
  return path === '/' ? '/**' : path;
});
const rule = fc.record(
  {
    paths: fc.option(fc.array(template, { minLength: 1, maxLength: 3 }), { nil: undefined }),
    methods: fc.option(fc.constantFrom(['GET'], ['POST'], ['GET', 'DELETE']), { nil: undefined }),
  },
  { requiredKeys: [] },
);
const requestPath = fc.array(fc.constantFrom(...SEGMENTS, 'x', ''), { maxLength: 5 }).map((s) => `/${s.join('/')}`);

const identity: Identity = { provider: 'idp', claims: { sub: 'u' } };

/** Request headers that record each name a rule asks about (and have none): which rules were looked at. */
function recordingHeaders(): { asked: string[]; headers: { get(name: string): undefined } } {
  const asked: string[] = [];
  return {
    asked,
    headers: {
      get: (name: string) => {
        asked.push(name);
        return undefined;
      },
    },
  };
}
const verdict = (d: Decision) => ({ ruleId: d.ruleId, reason: d.reason, status: d.status });

describe('rule index', () => {
  it('gives every request the same first match as walking all rules', () => {
    fc.assert(
      fc.property(
        fc.array(rule, { minLength: 1, maxLength: 12 }),
        requestPath,
        fc.constantFrom('GET', 'POST', 'DELETE'),
        (rules, path, method) => {
          const configs = rules.map((r, i) => ({
            id: `r${i}`,
            match: r.paths === undefined && r.methods === undefined ? { headers: [{ name: 'x-any', present: false }] } : r,
            require: { authenticated: true },
          }));
          const policy = compilePolicy(rulesSchema.parse(configs), { defaultDecision: 'deny' });
          const req = request(method, path);
          expect(verdict(policy.authorize(req, identity))).toEqual(verdict(policy.authorize(req, identity, { explain: true })));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('returns candidates in rule order, each once', () => {
    const index = new RuleIndex([[['a']], null, [['a', 'b'], ['a']], [[]], [['c']]]);
    expect(index.candidates(['a', 'b'])).toEqual([0, 1, 2, 3]);
    expect(index.candidates(['a'])).toEqual([0, 1, 2, 3]);
    expect(index.candidates(['c', 'd'])).toEqual([1, 3, 4]);
    expect(index.candidates([])).toEqual([1, 3]);
    // Two templates of one rule with the same literal prefix (`/a/{x}`, `/a/*/b`) file it there once.
    const shared = new RuleIndex([[['a']], [['a']], [['a'], ['a']]]);
    expect(shared.candidates(['a', 'z'])).toEqual([0, 1, 2]);
  });

  it('files a rule under the literal segments each of its paths starts with, up to a parameter or wildcard', () => {
    const prefixes = (paths: string[]) => literalPrefixes(compileMatch({ paths }, 'r').match);
    expect(prefixes(['/orders/{id}/items', '/a/b/*/c', '/a/b/c', '/**', '/{x}/y'])).toEqual([
      ['orders'],
      ['a', 'b'],
      ['a', 'b', 'c'],
      [],
      [],
    ]);
    expect(literalPrefixes(compileMatch({ methods: ['GET'] }, 'r').match)).toBeNull();
  });

  it('deciding never looks at a rule whose literal path prefix the request lacks; explaining walks them all', () => {
    const policy = compilePolicy(
      rulesSchema.parse([
        { id: 'a', match: { paths: ['/a/**'], headers: [{ name: 'x-a', present: true }] }, require: { anonymous: true } },
        { id: 'b', match: { paths: ['/b/**'] }, require: { anonymous: true } },
      ]),
      { defaultDecision: 'deny' },
    );
    const { asked, headers } = recordingHeaders();
    expect(policy.authorize({ ...request('GET', '/b/1'), headers }, null).ruleId).toBe('b');
    expect(asked).toEqual([]);
    expect(policy.authorize({ ...request('GET', '/b/1'), headers }, null, { explain: true }).ruleId).toBe('b');
    expect(asked).toEqual(['x-a']);
  });

  it('finds the last of 10,000 rules without walking the others', () => {
    const rules = Array.from({ length: 10_000 }, (_, i) => ({
      id: `r${i}`,
      match: { paths: [`/svc-${i}/items/{id}`] },
      require: { authenticated: true },
    }));
    const policy = compilePolicy(rulesSchema.parse(rules), { defaultDecision: 'deny' });
    expect(policy.authorize(request('GET', '/svc-9999/items/7'), identity).ruleId).toBe('r9999');
    expect(policy.authorize(request('GET', '/svc-10000/items/7'), identity).reason).toBe('no_matching_rule');
  });
});

describe('rule index: the prefixes a request looks up', () => {
  it('looks up none longer than the request: a rule filed under a/undefined is no candidate for /a', () => {
    // Past the request's last segment a joined key would name `undefined`, a literal segment like any other.
    const index = new RuleIndex([[['a', 'undefined']], [['a']], [['a', 'b', 'c']]]);
    expect(index.candidates(['a'])).toEqual([1]);
    expect(index.candidates(['a', 'undefined'])).toEqual([0, 1]);
    expect(index.candidates(['a', 'b'])).toEqual([1]);
  });

  it('deciding never asks about a rule filed under a longer prefix than the request has', () => {
    const policy = compilePolicy(
      rulesSchema.parse([
        { id: 'deep', match: { paths: ['/a/undefined/**'], headers: [{ name: 'x-deep', present: true }] }, require: { anonymous: true } },
        { id: 'a', match: { paths: ['/a'] }, require: { anonymous: true } },
      ]),
      { defaultDecision: 'deny' },
    );
    const { asked, headers } = recordingHeaders();
    expect(policy.authorize({ ...request('GET', '/a'), headers }, null).ruleId).toBe('a');
    expect(asked).toEqual([]);
  });
});
