import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/revocation/mirror.js';

describe('Mirror.onSubjectChange', () => {
  it('reports sub revocations, unrevocations and refresh markers by subject, a resync as null, and nothing for jti/sid', () => {
    const mirror = new Mirror();
    const seen: Array<string | null> = [];
    const unsubscribe = mirror.onSubjectChange((sub) => seen.push(sub));
    const entry = { value: 'x', expiresAt: 2e9, createdAt: 1 };
    mirror.apply({ op: 'revoke', entry: { ...entry, type: 'jti', value: 'token-1', sub: 'alice' } }, 0);
    mirror.apply({ op: 'revoke', entry: { ...entry, type: 'sid', value: 'session-1' } }, 0);
    mirror.apply({ op: 'revoke', entry: { ...entry, type: 'sub', value: 'bob' } }, 0);
    mirror.apply({ op: 'unrevoke', type: 'sub', value: 'bob' }, 0);
    mirror.apply({ op: 'refresh', marker: { sub: 'carol', at: 1, expiresAt: 2e9 } }, 0);
    mirror.replaceAll([], []);
    unsubscribe();
    mirror.apply({ op: 'refresh', marker: { sub: 'dave', at: 1, expiresAt: 2e9 } }, 0);
    expect(seen).toEqual(['bob', 'bob', 'carol', null]);
  });
});
