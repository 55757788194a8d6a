import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../src/policy/errors.js';

/** The first line a user reads when a policy does not compile: who, where, what. */
describe('PolicyError', () => {
  it('names the rule and the field inside it', () => {
    const err = new PolicyError('api', ['match', 'paths', 0], 'must start with "/"');
    expect(err.message).toBe(`rule 'api': match.paths[0]: must start with "/"`);
    expect(err).toMatchObject({ name: 'PolicyError', ruleId: 'api', field: ['match', 'paths', 0], detail: 'must start with "/"' });
    expect(err).toBeInstanceOf(Error);
  });

  it('leaves the field out when the problem is the whole rule', () => {
    expect(new PolicyError('api', [], 'matches nothing').message).toBe(`rule 'api': matches nothing`);
  });

  it('says "policy" for a problem that belongs to no rule', () => {
    expect(new PolicyError(null, ['viewAs'], 'unknown role').message).toBe('policy: viewAs: unknown role');
  });
});
