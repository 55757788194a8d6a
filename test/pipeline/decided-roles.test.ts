import { describe, expect, it } from 'vitest';
import { decidedClaims } from '../../src/pipeline/decided-roles.js';

/** What a minted internal token copies: the claims as the request was decided (issue 36). */
describe('decidedClaims', () => {
  const claims = { sub: 'tess', roles: { course: { teacher: ['42'] }, org: { admin: ['1'] } }, tenant: 't1' };

  it('returns the claims unchanged when nothing was downgraded or granted', () => {
    expect(decidedClaims(claims, {})).toBe(claims);
  });

  it('leaves only the viewed-as role in the viewed context', () => {
    const viewAs = { role: 'student', context: 'course', id: '42', claim: 'roles' };
    expect(decidedClaims(claims, { viewAs })).toEqual({ ...claims, roles: { course: { student: ['42'] }, org: { admin: ['1'] } } });
  });

  it("adds a context source's grants as the context's entry, as the roles header shows them", () => {
    const granted = [{ claim: 'roles', context: 'group', id: '9', roles: ['member'] }];
    expect(decidedClaims({ sub: 'tess' }, { granted })).toEqual({ sub: 'tess', roles: { group: { member: ['9'] } } });
  });

  it('refuses (undefined) when the decided claim sits at a nested path', () => {
    const viewAs = { role: 'student', context: 'course', id: '42', claim: 'realm_access.roles' };
    expect(decidedClaims({ realm_access: { roles: {} } }, { viewAs })).toBeUndefined();
    expect(decidedClaims({ 'realm_access.roles': {} }, { viewAs })).toEqual({ 'realm_access.roles': { course: { student: ['42'] } } });
  });

  it('merges grants for several ids of one context, each id once, and keeps each claim its own grants', () => {
    const granted = [
      { claim: 'roles', context: 'course', id: '7', roles: ['ta'] },
      { claim: 'roles', context: 'course', id: '8', roles: ['ta', 'teacher'] },
      { claim: 'roles', context: 'course', id: '8', roles: ['ta'] },
      { claim: 'groups', context: 'course', id: '9', roles: ['owner'] },
    ];
    expect(decidedClaims({ sub: 'tess' }, { granted })).toEqual({
      sub: 'tess',
      roles: { course: { ta: ['7', '8'], teacher: ['8'] } },
      groups: { course: { owner: ['9'] } },
    });
  });
});
