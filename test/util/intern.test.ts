import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { intern } from '../../src/util/intern.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MB = 1024 * 1024;

/** The heap, in MB, that the string `cut` makes of a text of 16 MB keeps alive. */
function keptAlive(cut: (text: string) => string): number {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = cut(`a string longer than thirteen ${'x'.repeat(16 * MB)}`);
  /x/.exec('x'); // V8 can hold the last text it worked on until a regular expression runs: not the string's doing
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  expect(kept).toBe('a string longer than thirteen');
  return (after - before) / MB;
}

describe('intern', () => {
  it('gives back the same text for every kind of string', () => {
    for (const text of [
      '',
      'GET',
      '0',
      '123',
      '4294967295',
      '-1',
      '1.5',
      '__proto__',
      'constructor',
      'x'.repeat(5000),
      'caf\u00e9 \u{1f600}',
      '\ud800',
    ]) {
      expect(intern(text)).toBe(text);
    }
  });

  it('gives a copy of its own for a slice of a longer text, which the slice would keep alive', () => {
    const interned = keptAlive((text) => intern(text.slice(0, 29)));
    expect(keptAlive((text) => text.slice(0, 29))).toBeGreaterThan(12);
    expect(interned).toBeLessThan(4);
  });
});
