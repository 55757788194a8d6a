/**
 * hasDuplicateTopLevelKey on its own: a member name repeated at the top level is found however it is
 * written, and nothing that is not a top-level member name is ever taken for one.
 */
import { describe, expect, it } from 'vitest';
import { hasDuplicateTopLevelKey } from '../../src/pipeline/json-keys.js';

const dup = (json: string) => {
  JSON.parse(json); // the function's contract: text JSON.parse already accepted
  return hasDuplicateTopLevelKey(json);
};

describe('hasDuplicateTopLevelKey', () => {
  it('finds a top-level name given twice, escaped or spaced, after nested values', () => {
    expect(dup('{"a":1,"a":2}')).toBe(true);
    expect(dup('{"alg":"ES256","\\u0061lg":"HS256"}')).toBe(true);
    expect(dup('{ "a" : 1 ,\n "b":2, "a" :3}')).toBe(true);
    expect(dup('{"a":[1,[2]],"a":2}')).toBe(true);
    expect(dup('{"a":{"b":{}},"a":2}')).toBe(true);
    expect(dup('{"a\\"b":1,"a\\"b":2}')).toBe(true);
  });

  it('takes no value, nested name or array element for a top-level name', () => {
    expect(dup('{}')).toBe(false);
    expect(dup('{"a":1,"b":2}')).toBe(false);
    expect(dup('{"a":"a"}')).toBe(false);
    expect(dup('{"a":{"a":1,"b":{"a":2}}}')).toBe(false);
    expect(dup('{"a":["a","a"]}')).toBe(false);
    expect(dup('{"a":[1,"a"]}')).toBe(false);
    expect(dup('{"a":[{"b":1},{"b":2}]}')).toBe(false);
  });

  it('reads escaped quotes and backslashes inside strings as part of them', () => {
    expect(dup('{"a":"\\",\\"a","b":1}')).toBe(false);
    expect(dup('{"a":"x\\\\","b":"\\\\","c":1}')).toBe(false);
    expect(dup('{"a":"x\\\\","a":1}')).toBe(true);
    expect(dup('{"a":"{[","b":1,"a":2}')).toBe(true); // brackets inside a string do not nest
  });
});
