/**
 * The identity header encoding, round trip: whatever tollgate writes for a claim, `tollgate/identity`
 * reads back as exactly what the token held (a scalar as a list of one), or tollgate writes nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeContextRoles, decodeList, encodeClaim, identityFrom, isObjectValue } from '../../src/identity/index.js';

/** What the reader makes of a header value: the list, or the object. */
function readBack(text: string): unknown {
  return isObjectValue(text) ? decodeContextRoles(text) : decodeList(text);
}

/** The claim as the reader should see it: scalars as a list of one, numbers and booleans as text. */
function expected(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  return (Array.isArray(value) ? value : [value]).map(String);
}

const HOSTILE = [',', '"', '{', '}', '[', ' ', '\t', '', 'a,b', ' admin', 'admin ', '{"x":1}', '"quoted"', 'a b', '}{', ',,', 'user,admin'];

describe('encodeClaim and the reader agree', () => {
  it.each([
    [['user,admin'], undefined],
    ['user,admin', undefined],
    ['{"course":{"teacher":["999"]}}', undefined],
    [' {"course":{}}', undefined],
    ['', undefined],
    [[''], undefined],
    [['admin', ' editor'], undefined],
    [[{ a: 1 }], undefined],
    [null, undefined],
    [['admin', 'editor'], 'admin,editor'],
    ['a "quoted" role}', 'a "quoted" role}'],
    [[1, true, 'x y'], '1,true,x y'],
    [{ course: { teacher: ['1,2', '3'] } }, '{"course":{"teacher":["1,2","3"]}}'],
  ])('%j is written as %j', (value, text) => {
    expect(encodeClaim(value)).toBe(text);
  });

  it('reads back exactly what was written, for hostile strings in every position', () => {
    const item = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 8 }), fc.integer(), fc.boolean());
    const claim = fc.oneof(item, fc.array(item, { minLength: 1, maxLength: 5 }));
    fc.assert(
      fc.property(claim, (value) => {
        const text = encodeClaim(value);
        if (text !== undefined) expect(readBack(text)).toEqual(expected(value));
      }),
      { numRuns: 2000, seed: 35 },
    );
  });

  it('context roles read back with hostile ids and role names', () => {
    const ids = fc.array(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 6 })), { maxLength: 3 });
    const roles = fc.dictionary(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 6 })), ids, { maxKeys: 3 });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), roles, { maxKeys: 3 }), (value) => {
        const text = encodeClaim(value)!;
        expect(readBack(text)).toEqual(value);
        expect(identityFrom({ 'x-user-roles': text }).contextRoles).toEqual(value);
      }),
      { numRuns: 500, seed: 35 },
    );
  });
});

/**
 * The reader is also the contract for services in other languages, and it must stay safe on values
 * encodeClaim never writes (another proxy's, or a hand-written header in a test setup): it returns what
 * it recognises and drops the rest, never throws and never turns a stray value into a role.
 */
describe('the reader, on values tollgate does not write', () => {
  it('a list: items trimmed, empty items dropped', () => {
    expect(decodeList(' admin , editor,, ,')).toEqual(['admin', 'editor']);
    expect(decodeList('')).toEqual([]);
  });

  it('a value with leading white space that begins with { is the object form, not a role named {…', () => {
    const text = ' {"course":{"teacher":["1"]}}';
    expect(isObjectValue(text)).toBe(true);
    expect(identityFrom({ 'x-user-roles': text })).toMatchObject({ roles: [], contextRoles: { course: { teacher: ['1'] } } });
  });

  it.each(['null', '[{"teacher":["1"]}]', '"course"', '5', '{"course":', '{not json}'])('%s: no context roles', (text) => {
    expect(decodeContextRoles(text)).toEqual({});
  });

  it('keeps only contexts that map roles to ids, and only string or safe-integer ids', () => {
    const text = JSON.stringify({
      none: null,
      list: ['teacher'],
      text: 'teacher',
      course: { teacher: ['a', 7, 1.5, true, null, { id: 1 }, 2 ** 60], ta: 'b', tutor: 8 },
    });
    expect(decodeContextRoles(text)).toEqual({ course: { teacher: ['a', '7'], ta: ['b'], tutor: ['8'] } });
  });
});
