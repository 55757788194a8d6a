import { describe, expect, it } from 'vitest';
import { intern } from '../../src/util/intern.js';

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
});
