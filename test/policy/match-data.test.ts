/**
 * A rule's match as data (`CompiledMatch`, read by `matches`): what the compiled record holds, the
 * method lists rules share, and how a list of paths given empty reads. The schema refuses empty lists;
 * a rule built in code reaches `compileMatch` without it.
 */
import { describe, expect, it } from 'vitest';
import { compilePolicy, rulesSchema, type RuleConfig } from '../../src/policy/index.js';
import { compileMatch, literalPrefixes, matches, type PreparedRequest } from '../../src/policy/match.js';
import { request } from './helpers.js';

const prepared = (method: string, path: string): PreparedRequest => {
  const segments = path.split('/').filter(Boolean);
  return { method, host: 'api.example.com', path, segments, headers: new Map(), direction: undefined };
};

describe('compiled match records: method lists', () => {
  it('shares one frozen list among the rules that give the same methods', () => {
    const first = compileMatch({ methods: ['get'], paths: ['/a'] }, 'a').match.methods;
    const second = compileMatch({ methods: ['GET'], paths: ['/b/{id}'] }, 'b').match.methods;
    expect(first).toEqual(['GET', 'HEAD']);
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    // Another list is another array.
    expect(compileMatch({ methods: ['POST'] }, 'c').match.methods).toEqual(['POST']);
  });

  it('keeps apart lists whose names would run together: [PURGE, LINK] is not [PURGELINK]', () => {
    const two = compileMatch({ methods: ['PURGE', 'LINK'] }, 'two').match.methods;
    const one = compileMatch({ methods: ['PURGELINK'] }, 'one').match.methods;
    expect(two).toEqual(['PURGE', 'LINK']);
    expect(one).toEqual(['PURGELINK']);
    const policy = compilePolicy(
      rulesSchema.parse([
        { id: 'two', match: { methods: ['PURGE', 'LINK'], paths: ['/two'] }, require: { anonymous: true } },
        { id: 'one', match: { methods: ['PURGELINK'], paths: ['/one'] }, require: { anonymous: true } },
      ]),
      { defaultDecision: 'deny' },
    );
    expect(policy.authorize(request('PURGELINK', '/one'), null).ruleId).toBe('one');
    expect(policy.authorize(request('PURGE', '/one'), null).ruleId).toBeNull();
    expect(policy.authorize(request('LINK', '/two'), null).ruleId).toBe('two');
    expect(policy.authorize(request('PURGELINK', '/two'), null).ruleId).toBeNull();
  });
});

describe('compiled match records: paths given as an empty list', () => {
  // As without `paths`: no path condition, no parameters, filed for every path (a rule built in code;
  // the schema refuses `paths: []`).
  it('is no path condition: it matches every path, when deciding and when explaining', () => {
    const { match, params } = compileMatch({ paths: [] }, 'r');
    expect(params).toBeNull();
    expect(literalPrefixes(match)).toBeNull();
    expect(matches(match, prepared('GET', '/any/where'), {}, null)).toBe(true);
    const rules: RuleConfig[] = [{ id: 'r', match: { paths: [] }, require: { anonymous: true } }];
    const policy = compilePolicy(rules, { defaultDecision: 'deny' });
    expect(policy.authorize(request('GET', '/any/where'), null).ruleId).toBe('r');
    expect(policy.authorize(request('GET', '/any/where'), null, { explain: true }).ruleId).toBe('r');
  });
});
