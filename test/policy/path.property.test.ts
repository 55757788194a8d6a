/**
 * Properties of path handling, against attacker-chosen spellings. The policy under attack has a strict
 * rule on /admin/** placed before a public catch-all, which is the layout where a normalization gap
 * turns into a bypass.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicy, normalizePath } from '../../src/policy/index.js';
import { request } from './helpers.js';

const policy = compilePolicy(
  [
    { id: 'admin', match: { paths: ['/admin/**'] }, require: { roles: { anyOf: ['admin'] } } },
    {
      id: 'teacher-grades',
      match: { paths: ['/courses/{courseId}/grades'] },
      require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'] } },
    },
    { id: 'public', match: { paths: ['/**'] }, require: { anonymous: true } },
  ],
  { defaultDecision: 'deny' },
);

/** Every way to spell one character in a path that a server might decode back to it. */
function spellings(char: string): string[] {
  const hex = char.charCodeAt(0).toString(16).padStart(2, '0');
  return [char, `%${hex.toLowerCase()}`, `%${hex.toUpperCase()}`, `%${hex[0]}${hex[1]?.toUpperCase()}`];
}

const spelled = (word: string) => fc.tuple(...[...word].map((c) => fc.constantFrom(...spellings(c)))).map((parts) => parts.join(''));

/** Noise that resolves to nothing: extra slashes, "." in its spellings, and "x/.." detours. */
const noise = fc.constantFrom('', '/', '/.', '/%2e', '/%2E', '/x/..', '/x/%2e%2e', '/x/.%2E', '/foo/bar/../..');

const word = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);

describe('encoding tricks never reach a rule they should not', () => {
  it('any spelling of /admin/<rest> is decided by the admin rule or rejected, never by the public rule', () => {
    fc.assert(
      fc.property(
        noise,
        spelled('admin'),
        noise,
        fc.array(word, { maxLength: 3 }),
        fc.constantFrom('', '/', '?a=/public', '#/public'),
        (pre, admin, mid, rest, tail) => {
          const path = `${pre}/${admin}${mid}${rest.map((r) => `/${r}`).join('')}${tail}`;
          const decision = policy.authorize(request('GET', path), null);
          if (decision.ruleId === null) {
            expect(decision.reason).toBe('invalid_path');
          } else {
            expect(decision.ruleId).toBe('admin');
            expect(decision.allowed).toBe(false);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a course id spelled any way is the id the contextRole check sees', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 99999 }), fc.boolean(), (id, owns) => {
        const digits = String(id);
        const path = `/courses/${[...digits].map((c) => (owns ? `%3${c}` : c)).join('')}/grades`;
        const teacherOf = owns ? digits : `${digits}0`;
        const decision = policy.authorize(request('GET', path), {
          provider: 'idp',
          claims: { roles: { course: { teacher: [teacherOf] } } },
        });
        expect(decision).toMatchObject({ ruleId: 'teacher-grades', allowed: owns });
      }),
    );
  });

  // Segment soup: pieces attackers combine, joined by "/".
  const piece = fc.constantFrom(
    'admin',
    'ADMIN',
    'Admin',
    '%61dmin',
    '%41dmin',
    'admin%20',
    'a',
    'x',
    'courses',
    '1',
    'grades',
    '',
    '.',
    '..',
    '%2e',
    '%2E',
    '%2e%2e',
    '%2E%2e',
    '.%2e',
    '%2e.',
    '...',
    '%252e%252e',
    '%2f',
    '%2F',
    'a%2fb',
    '%5c',
    '%5C',
    '\\',
    '%00',
    ';',
    'admin;',
    '..;',
    '%3B',
    '%3b',
    '%25',
    '%',
    '%zz',
    'é',
    '%C3%A9',
    ' ',
    '%20',
    '?',
    '#',
    '?x=/admin',
    '~',
    '%7e',
    ':',
    '%3a',
    '@',
    '*',
  );
  const soup = fc.array(piece, { minLength: 1, maxLength: 8 }).map((parts) => `/${parts.join('/')}`);

  it('normalization is idempotent and yields a clean path', () => {
    fc.assert(
      fc.property(soup, (raw) => {
        const result = normalizePath(raw);
        if (!result.ok) return;
        const again = normalizePath(result.path);
        expect(again).toEqual(result);
        expect(result.path.startsWith('/')).toBe(true);
        expect(result.segments).not.toContain('');
        expect(result.segments).not.toContain('.');
        expect(result.segments).not.toContain('..');
        expect(result.path).not.toMatch(/%2F|%5C|%00|\\|;|[?#]/i);
        // One spelling per character: what may stand raw is decoded, the rest is upper-case %XX.
        for (const [, hex] of result.path.matchAll(/%(..)/g)) {
          expect(hex).toMatch(/^[0-9A-F]{2}$/);
          expect(String.fromCharCode(parseInt(hex as string, 16))).not.toMatch(/[A-Za-z0-9\-._~!$&'()*+,=:@]/);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the decision on a raw path equals the decision on its normalized form', () => {
    fc.assert(
      fc.property(soup, (raw) => {
        const result = normalizePath(raw);
        const decision = policy.authorize(request('GET', raw), null);
        if (!result.ok) {
          expect(decision).toEqual({ allowed: false, ruleId: null, reason: 'invalid_path', status: 'permission_denied' });
          return;
        }
        expect(decision).toEqual(policy.authorize(request('GET', result.path), null));
        expect(decision.ruleId).toBe(
          result.segments[0] === 'admin'
            ? 'admin'
            : result.segments.length === 3 && result.segments[0] === 'courses' && result.segments[2] === 'grades'
              ? 'teacher-grades'
              : 'public',
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('an accepted path names the resource a WHATWG URL parser resolves it to', () => {
    // The oracle is an independent implementation (Node's URL, as browsers and many servers resolve
    // paths): after percent-decoding and dropping empty segments, both must name the same segments.
    const decode = (segments: readonly string[]) => segments.filter((s) => s !== '').map((s) => decodeURIComponent(s));
    fc.assert(
      fc.property(soup, (raw) => {
        fc.pre(!raw.endsWith(' ')); // the URL parser trims the whole input; a request line cannot end in a space
        const ours = normalizePath(raw);
        if (!ours.ok) return;
        const theirs = new URL(`http://h${raw}`).pathname.split('/').slice(1);
        expect(decode(ours.segments)).toEqual(decode(theirs));
      }),
      { numRuns: 3000 },
    );
  });
});
