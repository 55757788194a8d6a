import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CORE_SCHEMA, load } from 'js-yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readYaml } from '../../src/util/yaml.js';
import { intern } from '../../src/util/intern.js';

/** An error js-yaml's `load` throws instead of reading, when set: one that is no YAMLException. */
const failure = vi.hoisted(() => ({ error: undefined as Error | undefined }));
vi.mock('js-yaml', async (importOriginal) => {
  const actual = await importOriginal<typeof import('js-yaml')>();
  return {
    ...actual,
    load: (...args: Parameters<typeof actual.load>) => {
      if (failure.error) throw failure.error;
      return actual.load(...args);
    },
  };
});
// intern, counted: how many strings a read interns.
vi.mock('../../src/util/intern.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/util/intern.js')>();
  return { intern: vi.fn(actual.intern) };
});
afterEach(() => {
  failure.error = undefined;
  vi.mocked(intern).mockClear();
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MB = 1024 * 1024;

/**
 * The heap, in MB, that what `read` returns for a document followed by a comment of 16 MB keeps alive:
 * js-yaml's strings of 13 characters or more are slices of the text, which keep all of it.
 */
function keptAlive(read: (text: string) => unknown, document: string): number {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const value = read(`${document}\n#${'x'.repeat(16 * MB)}\n`);
  /x/.exec('x'); // V8 can hold the last text it worked on until a regular expression runs: not the value's doing
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  expect(value).toEqual(load(document, { schema: CORE_SCHEMA }));
  return (after - before) / MB;
}

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

  it('reports an error js-yaml gives no position, such as a second document, without one', () => {
    expect(readYaml('a: 1\n---\nb: 2\n')).toEqual({ ok: false, message: 'expected a single document in the stream, but found more' });
  });

  it('lets an error that is no YAML mistake through, rather than reporting it as one', () => {
    failure.error = new RangeError('Maximum call stack size exceeded');
    expect(() => readYaml('a: 1\n')).toThrow(RangeError);
  });

  it('reads null, numbers, booleans and empty collections as they are, at the top and in lists', () => {
    for (const text of ['~', 'null', '7', 'true', '[]', '{}', '[a, ~, 1, false, [], {}, [~]]', 'a: [~, {b: ~}]']) {
      expect(readYaml(text)).toEqual({ ok: true, value: load(text, { schema: CORE_SCHEMA }) });
    }
  });

  // Interning is what lets the file's text go: js-yaml's own strings keep it alive (checked here, so the
  // measure is known to see a kept text), those readYaml returns must not, wherever they are.
  it.each([
    ['the document itself', 'a string longer than thirteen'],
    ['a value in a mapping', 'key: a string longer than thirteen'],
    ['an item of a list', '- a string longer than thirteen'],
    ['a mapping in a list in a mapping in a list', '- a:\n    - b: a string longer than thirteen'],
  ])('does not keep the text alive through a string that is %s', (_, document) => {
    const read = keptAlive((text) => {
      const yaml = readYaml(text);
      return yaml.ok ? yaml.value : yaml;
    }, document);
    expect(keptAlive((text) => load(text, { schema: CORE_SCHEMA }), document)).toBeGreaterThan(12);
    expect(read).toBeLessThan(4);
  });

  it('reads a node that aliases share once, and gives it shared, as js-yaml does', () => {
    // Six levels, each a list naming the one before nine times: 9^6 paths lead to the strings of `l0`.
    const levels = ['l0: &l0 [a, b, c, d, e, f, g, h, i]'];
    for (let level = 1; level < 6; level++)
      levels.push(
        `l${level}: &l${level} [${Array(9)
          .fill(`*l${level - 1}`)
          .join(', ')}]`,
      );
    const read = readYaml(levels.join('\n'));
    if (!read.ok) throw new Error(read.message);
    const value = read.value as Record<string, unknown[]>;
    expect(value.l0).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']);
    expect(value.l5?.[8]).toBe(value.l4);
    expect(value.l1?.[0]).toBe(value.l0);
    expect(vi.mocked(intern)).toHaveBeenCalledTimes(9);
  });

  it('refuses a document that an alias makes recursive: no reader of a config expects one without end', () => {
    for (const text of ['a: &a [ *a ]\n', '&a { self: *a }\n', 'rules:\n  - &rule\n    id: a\n    match: { any: [ *rule ] }\n']) {
      expect(readYaml(text)).toEqual({
        ok: false,
        message: 'an alias refers to a node that contains it, which makes the document endless',
      });
    }
    // an alias after the node it names is no recursion
    expect(readYaml('a: &a { b: [1] }\nc: { d: *a }\n')).toEqual({ ok: true, value: { a: { b: [1] }, c: { d: { b: [1] } } } });
  });
});
