/**
 * Building revocation entries and refresh markers from operator input, and reading persisted ones
 * back: every boundary of the rules (one-second cut-offs rounded up, lengths, finite numbers).
 */
import { describe, expect, it } from 'vitest';
import {
  buildEntry,
  buildRefreshMarker,
  cutoffNow,
  entrySchema,
  MAX_REASON_LENGTH,
  MAX_VALUE_LENGTH,
  refreshMarkerSchema,
  storeOpSchema,
} from '../../src/revocation/entries.js';
import { RevocationInputError } from '../../src/revocation/types.js';
import { ManualClock } from '../../src/util/clock.js';

const NOW = 1_800_000_000; // whole seconds
const TTL = 3600;
/** A clock 250 ms into the second NOW. */
const clock = () => new ManualClock(NOW * 1000 + 250);
const fieldOf = (build: () => unknown) => {
  try {
    build();
  } catch (err) {
    expect(err).toBeInstanceOf(RevocationInputError);
    return (err as RevocationInputError).field;
  }
  return 'accepted';
};

describe('buildEntry', () => {
  it('takes the start of the next whole second as "now" for a cut-off', () => {
    expect(cutoffNow(clock())).toBe(NOW + 1);
    expect(cutoffNow(new ManualClock(NOW * 1000))).toBe(NOW + 1);
  });

  it('gives a sub revocation the next second as notBefore, an explicit one rounded up, and expiry after both', () => {
    expect(buildEntry({ type: 'sub', value: 'alice' }, clock(), TTL)).toStrictEqual({
      type: 'sub',
      value: 'alice',
      notBefore: NOW + 1,
      expiresAt: NOW + 1 + TTL,
      createdAt: NOW,
    });
    expect(buildEntry({ type: 'sub', value: 'alice', notBefore: NOW - 99.5 }, clock(), TTL)).toMatchObject({
      notBefore: NOW - 99,
      expiresAt: NOW + 1 + TTL, // now (rounded up) wins over a past cut-off
    });
    expect(buildEntry({ type: 'sub', value: 'alice', notBefore: NOW + 600.2 }, clock(), TTL)).toMatchObject({
      notBefore: NOW + 601,
      expiresAt: NOW + 601 + TTL,
    });
  });

  it('keeps reason and sub when given, and nothing it was not given', () => {
    expect(buildEntry({ type: 'jti', value: 't', reason: 'leaked', sub: 'alice' }, clock(), TTL)).toStrictEqual({
      type: 'jti',
      value: 't',
      reason: 'leaked',
      sub: 'alice',
      expiresAt: NOW + 1 + TTL,
      createdAt: NOW,
    });
    expect(buildEntry({ type: 'sid', value: 's', expiresAt: NOW + 0.5 }, clock(), TTL)).toStrictEqual({
      type: 'sid',
      value: 's',
      expiresAt: NOW + 0.5,
      createdAt: NOW,
    });
  });

  it('refuses each malformed input naming its field, at the exact boundaries', () => {
    const c = clock();
    const at = (input: Parameters<typeof buildEntry>[0]) => fieldOf(() => buildEntry(input, c, TTL));
    expect(at({ type: 'jti', value: '' })).toBe('value');
    expect(at({ type: 'jti', value: 7 as unknown as string })).toBe('value');
    expect(at({ type: 'jti', value: 'x'.repeat(MAX_VALUE_LENGTH) })).toBe('accepted');
    expect(at({ type: 'jti', value: 'x'.repeat(MAX_VALUE_LENGTH + 1) })).toBe('value');
    expect(at({ type: 'jti', value: 'v', sub: '' })).toBe('sub');
    expect(at({ type: 'jti', value: 'v', sub: 'x'.repeat(MAX_VALUE_LENGTH + 1) })).toBe('sub');
    expect(at({ type: 'sub', value: 'v', sub: 'w' })).toBe('sub');
    expect(at({ type: 'sid', value: 'v', notBefore: NOW })).toBe('notBefore');
    expect(at({ type: 'sub', value: 'v', notBefore: Number.POSITIVE_INFINITY })).toBe('notBefore');
    expect(at({ type: 'sub', value: 'v', notBefore: Number.NaN })).toBe('notBefore');
    expect(at({ type: 'jti', value: 'v', expiresAt: NOW + 0.25 })).toBe('expiresAt'); // exactly now
    expect(at({ type: 'jti', value: 'v', expiresAt: NOW + 0.26 })).toBe('accepted');
    expect(at({ type: 'jti', value: 'v', expiresAt: Number.POSITIVE_INFINITY })).toBe('expiresAt');
    expect(at({ type: 'jti', value: 'v', reason: 'r'.repeat(MAX_REASON_LENGTH) })).toBe('accepted');
    expect(at({ type: 'jti', value: 'v', reason: 'r'.repeat(MAX_REASON_LENGTH + 1) })).toBe('reason');
  });

  it('says what is wrong in the message', () => {
    const messages = [
      () => buildEntry({ type: 'jti', value: '' }, clock(), TTL),
      () => buildEntry({ type: 'jti', value: 'x'.repeat(MAX_VALUE_LENGTH + 1) }, clock(), TTL),
      () => buildEntry({ type: 'jti', value: 'v', notBefore: NOW }, clock(), TTL),
      () => buildEntry({ type: 'sub', value: 'v', sub: 'w' }, clock(), TTL),
      () => buildEntry({ type: 'jti', value: 'v', expiresAt: NOW }, clock(), TTL),
      () => buildEntry({ type: 'jti', value: 'v', expiresAt: Number.NaN }, clock(), TTL),
      () => buildEntry({ type: 'jti', value: 'v', reason: 'r'.repeat(MAX_REASON_LENGTH + 1) }, clock(), TTL),
    ].map((build) => {
      try {
        build();
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    });
    expect(messages).toEqual([
      'value: must be a non-empty string',
      'value: must be at most 1024 characters',
      'notBefore: only applies to type sub',
      'sub: only applies to type jti or sid',
      'expiresAt: must be in the future',
      'expiresAt: must be a finite number of epoch seconds',
      'reason: must be at most 1024 characters',
    ]);
  });
});

describe('buildRefreshMarker', () => {
  it('cuts off at the next second, or at the given time rounded up, and lives a TTL past the later of it and now', () => {
    expect(buildRefreshMarker('alice', undefined, clock(), TTL)).toStrictEqual({ sub: 'alice', at: NOW + 1, expiresAt: NOW + 1 + TTL });
    expect(buildRefreshMarker('alice', NOW - 10.5, clock(), TTL)).toStrictEqual({ sub: 'alice', at: NOW - 10, expiresAt: NOW + 1 + TTL });
    expect(buildRefreshMarker('alice', NOW + 60.1, clock(), TTL)).toStrictEqual({ sub: 'alice', at: NOW + 61, expiresAt: NOW + 61 + TTL });
  });

  it('refuses an empty or overlong subject and a time that is not finite', () => {
    expect(fieldOf(() => buildRefreshMarker('', undefined, clock(), TTL))).toBe('sub');
    expect(fieldOf(() => buildRefreshMarker('x'.repeat(MAX_VALUE_LENGTH + 1), undefined, clock(), TTL))).toBe('sub');
    expect(fieldOf(() => buildRefreshMarker('alice', Number.NaN, clock(), TTL))).toBe('at');
  });
});

describe('persisted forms', () => {
  const entry = { type: 'jti', value: 't', expiresAt: NOW + TTL, createdAt: NOW };

  it('reads back what it wrote, and refuses what it never writes', () => {
    expect(entrySchema.parse({ ...entry, notBefore: NOW, reason: 'r', sub: 's' })).toEqual({
      ...entry,
      notBefore: NOW,
      reason: 'r',
      sub: 's',
    });
    for (const type of ['sid', 'sub']) expect(entrySchema.parse({ ...entry, type })).toEqual({ ...entry, type });
    for (const bad of [
      { ...entry, type: 'kid' },
      { ...entry, value: '' },
      { ...entry, value: 'x'.repeat(MAX_VALUE_LENGTH + 1) },
      { ...entry, expiresAt: '1800003600' },
      { ...entry, createdAt: undefined },
      { ...entry, notBefore: null },
      { ...entry, reason: 7 },
      { ...entry, sub: '' },
    ]) {
      expect(entrySchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(refreshMarkerSchema.safeParse({ sub: 'alice', at: NOW, expiresAt: NOW + TTL }).success).toBe(true);
    expect(refreshMarkerSchema.safeParse({ sub: '', at: NOW, expiresAt: NOW + TTL }).success).toBe(false);
    expect(refreshMarkerSchema.safeParse({ sub: 'alice', at: NOW }).success).toBe(false);
  });

  it('reads the three kinds of change and nothing else', () => {
    expect(storeOpSchema.parse({ op: 'revoke', entry })).toEqual({ op: 'revoke', entry });
    expect(storeOpSchema.parse({ op: 'unrevoke', type: 'sid', value: 's' })).toEqual({ op: 'unrevoke', type: 'sid', value: 's' });
    const marker = { sub: 'alice', at: NOW, expiresAt: NOW + TTL };
    expect(storeOpSchema.parse({ op: 'refresh', marker })).toEqual({ op: 'refresh', marker });
    for (const bad of [
      { op: 'delete', type: 'sid', value: 's' },
      { op: 'unrevoke', type: 'sid', value: '' },
      { op: 'unrevoke', type: 'kid', value: 's' },
      { op: 'revoke', entry: { ...entry, expiresAt: undefined } },
      { op: 'refresh', marker: { ...marker, at: 'now' } },
    ]) {
      expect(storeOpSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
