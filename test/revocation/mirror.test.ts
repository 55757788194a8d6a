/**
 * The Mirror on its own: the edges of what it holds (an entry is live until the second it expires,
 * not at it), entries read back from a store without the fields tollgate writes, and claims no
 * verified token carries but a caller may pass.
 */
import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/revocation/mirror.js';

const T = 1_800_000_000;
const ms = (seconds: number) => seconds * 1000;
const entry = (type: 'jti' | 'sid' | 'sub', value: string, extra: Record<string, number> = {}) => ({
  type,
  value,
  expiresAt: T + 60,
  createdAt: T,
  ...extra,
});

describe('Mirror', () => {
  it('holds an entry until the millisecond before it expires', () => {
    const mirror = new Mirror();
    mirror.apply({ op: 'revoke', entry: entry('jti', 'a') }, ms(T));
    expect(mirror.check({ jti: 'a' }, ms(T + 60) - 1)).toEqual({ revoked: 'jti', refresh: false });
    expect(mirror.check({ jti: 'a' }, ms(T + 60))).toEqual({ revoked: null, refresh: false });
    expect(mirror.get('jti', 'a', ms(T + 60) - 1)).toMatchObject({ value: 'a' });
    expect(mirror.get('jti', 'a', ms(T + 60))).toBeUndefined();
  });

  it('reports a revocation and a refresh marker as changes, an unrevocation only when it removed a live entry', () => {
    const mirror = new Mirror();
    expect(mirror.apply({ op: 'revoke', entry: entry('sid', 's') }, ms(T))).toBe(true);
    expect(mirror.apply({ op: 'refresh', marker: { sub: 'alice', at: T, expiresAt: T + 60 } }, ms(T))).toBe(true);
    expect(mirror.check({ sid: 's' }, ms(T))).toEqual({ revoked: 'sid', refresh: false });
    expect(mirror.apply({ op: 'unrevoke', type: 'sid', value: 's' }, ms(T + 60))).toBe(false); // expired
    expect(mirror.apply({ op: 'unrevoke', type: 'sid', value: 's' }, ms(T))).toBe(false); // gone
    mirror.apply({ op: 'revoke', entry: entry('sid', 's') }, ms(T));
    expect(mirror.apply({ op: 'unrevoke', type: 'sub', value: 's' }, ms(T))).toBe(false); // another type
    expect(mirror.apply({ op: 'unrevoke', type: 'sid', value: 's' }, ms(T))).toBe(true);
    expect(mirror.size).toBe(0);
  });

  it('revokes every token of a subject whose entry has no notBefore, and takes a non-finite iat as no iat', () => {
    const mirror = new Mirror();
    mirror.apply({ op: 'revoke', entry: entry('sub', 'alice') }, ms(T));
    expect(mirror.check({ sub: 'alice', iat: T + 10_000 }, ms(T))).toEqual({ revoked: 'sub', refresh: false });
    mirror.apply({ op: 'revoke', entry: entry('sub', 'bob', { notBefore: T }) }, ms(T));
    expect(mirror.check({ sub: 'bob', iat: T }, ms(T))).toEqual({ revoked: null, refresh: false });
    for (const iat of [Number.POSITIVE_INFINITY, Number.NaN, undefined]) {
      expect(mirror.check({ sub: 'bob', iat }, ms(T)), String(iat)).toEqual({ revoked: 'sub', refresh: false });
    }
  });

  it('asks a subject to refresh only while the marker lives, for tokens issued before it', () => {
    const mirror = new Mirror();
    mirror.apply({ op: 'refresh', marker: { sub: 'alice', at: T, expiresAt: T + 60 } }, ms(T));
    expect(mirror.check({ sub: 'alice', iat: T - 1 }, ms(T + 60) - 1)).toEqual({ revoked: null, refresh: true });
    expect(mirror.check({ sub: 'alice', iat: T }, ms(T))).toEqual({ revoked: null, refresh: false });
    expect(mirror.check({ sub: 'alice', iat: Number.POSITIVE_INFINITY }, ms(T))).toEqual({ revoked: null, refresh: true });
    expect(mirror.check({ sub: 'alice', iat: T - 1 }, ms(T + 60))).toEqual({ revoked: null, refresh: false });
  });

  it('sweeps exactly the expired entries and markers, counting them, and lists what is left', () => {
    const mirror = new Mirror();
    mirror.apply({ op: 'revoke', entry: entry('jti', 'old', { expiresAt: T + 10 }) }, ms(T));
    mirror.apply({ op: 'revoke', entry: entry('sid', 'new') }, ms(T));
    mirror.apply({ op: 'revoke', entry: entry('sub', 'old', { expiresAt: T + 10, notBefore: T }) }, ms(T));
    mirror.apply({ op: 'refresh', marker: { sub: 'old', at: T, expiresAt: T + 10 } }, ms(T));
    mirror.apply({ op: 'refresh', marker: { sub: 'new', at: T, expiresAt: T + 60 } }, ms(T));
    expect(mirror.counts()).toEqual({ jti: 1, sid: 1, sub: 1, refresh: 2 });
    expect(mirror.sweep(ms(T + 10) - 1)).toBe(0);
    expect(mirror.sweep(ms(T + 10))).toBe(3);
    expect(mirror.counts()).toEqual({ jti: 0, sid: 1, sub: 0, refresh: 1 });
    expect(mirror.size).toBe(1);
    mirror.apply({ op: 'revoke', entry: entry('jti', 'brief', { expiresAt: T + 20 }) }, ms(T));
    expect(mirror.list(ms(T + 20)).map((e) => e.value)).toEqual(['new']);
    expect(mirror.refreshMarkers(ms(T + 60)).map((m) => m.sub)).toEqual([]);
    expect(mirror.counts()).toEqual({ jti: 0, sid: 0, sub: 0, refresh: 0 });
  });

  it('tells subject listeners of sub changes only: not of a jti or sid unrevoked', () => {
    const mirror = new Mirror();
    const seen: (string | null)[] = [];
    mirror.onSubjectChange((sub) => seen.push(sub));
    mirror.apply({ op: 'unrevoke', type: 'jti', value: 'alice' }, ms(T));
    mirror.apply({ op: 'unrevoke', type: 'sid', value: 'alice' }, ms(T));
    mirror.apply({ op: 'unrevoke', type: 'sub', value: 'bob' }, ms(T));
    expect(seen).toEqual(['bob']);
  });

  it('replaces everything at once on a resync', () => {
    const mirror = new Mirror();
    mirror.apply({ op: 'revoke', entry: entry('jti', 'a') }, ms(T));
    mirror.apply({ op: 'refresh', marker: { sub: 'alice', at: T, expiresAt: T + 60 } }, ms(T));
    mirror.replaceAll([entry('sub', 'bob', { notBefore: T })], [{ sub: 'carol', at: T, expiresAt: T + 60 }]);
    expect(mirror.counts()).toEqual({ jti: 0, sid: 0, sub: 1, refresh: 1 });
    expect(mirror.check({ jti: 'a' }, ms(T))).toEqual({ revoked: null, refresh: false });
    expect(mirror.check({ sub: 'bob', iat: T - 1 }, ms(T))).toEqual({ revoked: 'sub', refresh: false });
    expect(mirror.check({ sub: 'carol', iat: T - 1 }, ms(T))).toEqual({ revoked: null, refresh: true });
    expect(mirror.check({ sub: 'alice', iat: T - 1 }, ms(T))).toEqual({ revoked: null, refresh: false });
  });
});
