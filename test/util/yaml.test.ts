import { CORE_SCHEMA, load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { readYaml } from '../../src/util/yaml.js';
import { intern } from '../../src/util/intern.js';

describe('readYaml', () => {
  it('reads every value as js-yaml does, with its strings shared', () => {
    const text = [
      'rules:',
      '  - id: a-rule-with-a-long-enough-id',
      '    match: { methods: [GET, GET], paths: ["/svc-1/courses/{courseId}/grades"] }',
      '    require: { roles: { anyOf: [teacher, "", "0", "123", "__proto__", "caf\u00e9 \u{1f600}"] } }',
      '"__proto__": { polluted: yes }',
      '"42": answer',
      'count: 7',
      'on: true',
      'nothing: null',
      'date: 2026-01-01',
    ].join('\n');
    const read = readYaml(text);
    expect(read).toEqual({ ok: true, value: load(text, { schema: CORE_SCHEMA }) });
    if (!read.ok) return;
    const value = read.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(value.date).toBe('2026-01-01');
  });

  it('reports a YAML error with its line and column', () => {
    expect(readYaml('a: 1\na: 2\n')).toEqual({ ok: false, message: expect.stringMatching(/duplicated mapping key at line 2, column 1/) });
  });
});

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
