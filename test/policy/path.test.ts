import { describe, expect, it } from 'vitest';
import { compilePolicy, normalizePath, type Identity } from '../../src/policy/index.js';
import { literalPrefix, matchTemplate, parseTemplate, templateParams, templateText } from '../../src/policy/path.js';
import { request } from './helpers.js';

const ok: Array<[raw: string, normalized: string]> = [
  ['/', '/'],
  ['/courses/123/grades', '/courses/123/grades'],
  ['/courses/123/grades/', '/courses/123/grades'],
  ['//courses///123//grades', '/courses/123/grades'],
  ['/courses/./123/grades', '/courses/123/grades'],
  ['/courses/x/../123/grades', '/courses/123/grades'],
  ['/courses/x/%2e%2e/123/grades', '/courses/123/grades'],
  ['/courses/x/%2E%2e/123/%2E/grades', '/courses/123/grades'],
  ['/courses/x/.%2e/123', '/courses/123'],
  ['/a/..', '/'],
  ['/%61dmin', '/admin'],
  ['/%7Euser/%2D%5F', '/~user/-_'],
  ['/v1/jobs%3acancel', '/v1/jobs:cancel'],
  ['/mail/a%40b.com', '/mail/a@b.com'],
  ['/a%2eb', '/a.b'],
  ['/caf%c3%a9', '/caf%C3%A9'],
  ['/café', '/caf%C3%A9'],
  ['/a b', '/a%20b'],
  ['/a%20b', '/a%20b'],
  ['/100%25', '/100%25'],
  ['/%253B', '/%253B'],
  ['/a%3bb', '/a%3Bb'],
  ['/{x}', '/%7Bx%7D'],
  ['/healthz?x=1', '/healthz'],
  ['/healthz?x=/../../etc', '/healthz'],
  ['/healthz#frag', '/healthz'],
  ['/a?q#f', '/a'],
  ['/a#f?q', '/a'],
  ['/a/b?%2F', '/a/b'],
  ['/emoji/😀', '/emoji/%F0%9F%98%80'],
  // The ends of the decoded ranges (Z, z, 0, 9; the sub-delims ! $ & , =) are decoded, and raw they stay;
  // the characters beside those ranges stay encoded, and so does DEL (raw, it is refused below).
  ['/%5A%7A%30%39', '/Zz09'],
  ['/%21%24%26%2C%3D', '/!$&,='],
  ['/!$&,=', '/!$&,='],
  ['/%40%5B%60%7B%22%25', '/@%5B%60%7B%22%25'],
  ['/a%7fb', '/a%7Fb'],
];

const rejected: Array<[raw: string, reason: RegExp]> = [
  ['/a%2Fb', /encoded "\/"/],
  ['/a%2fb', /encoded "\/"/],
  ['/admin%2F..%2Fpublic', /encoded "\/"/],
  ['/a%5Cb', /encoded "\\"/],
  ['/a%5cb', /encoded "\\"/],
  ['/a\\b', /backslash/],
  ['/..\\admin', /backslash/],
  ['/a%00b', /NUL/],
  ['/a\u0000b', /control/],
  ['/a\nb', /control/],
  ['/a\tb', /control/],
  ['/a\u007fb', /control/],
  ['/..', /escapes the root/],
  ['/../admin', /escapes the root/],
  ['/%2e%2e/admin', /escapes the root/],
  ['/a/../../admin', /escapes the root/],
  ['/a/%2E%2E/.%2e/admin', /escapes the root/],
  ['//..', /ambiguous/],
  ['/a//../b', /ambiguous/],
  ['/a//./../b', /ambiguous/],
  ['/a///x/../../b', /ambiguous/],
  ['/admin;x/users', /";"/],
  ['/public/..;/admin', /";"/],
  ['/a%', /malformed/],
  ['/a%2', /malformed/],
  ['/a%zz', /malformed/],
  ['/a%2?x', /malformed/],
  // A "%" just before the query or fragment: the hex digits after "?" or "#" are not its escape.
  ['/admin%?41', /malformed/],
  ['/admin%#41', /malformed/],
  // Characters just below "0" are not hex digits.
  ['/a%-1', /malformed/],
  ['/a%1.', /malformed/],
  ['admin', /start with \//],
  ['', /start with \//],
  ['*', /start with \//],
  ['http://evil/admin', /start with \//],
  ['/a\uD800b', /surrogate/],
];

describe('normalizePath', () => {
  it.each(ok)('%j → %j', (raw, normalized) => {
    const result = normalizePath(raw);
    expect(result).toMatchObject({ ok: true, path: normalized });
    // Idempotent: the normalized form normalizes to itself.
    expect(normalizePath(normalized)).toMatchObject({ ok: true, path: normalized });
  });

  it.each(rejected)('rejects %j', (raw, reason) => {
    const result = normalizePath(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('returns the segments it matched on', () => {
    expect(normalizePath('//a/./b/')).toEqual({ ok: true, path: '/a/b', segments: ['a', 'b'] });
    expect(normalizePath('/')).toEqual({ ok: true, path: '/', segments: [] });
  });
});

describe('path templates', () => {
  const anon = (id: string, path: string) => ({ id, match: { paths: [path] }, require: { anonymous: true as const } });
  const policy = compilePolicy(
    [
      anon('exact', '/a/b'),
      anon('one', '/one/*/end'),
      anon('rest', '/rest/**'),
      anon('unicode', '/café/menu'),
      anon('colon', '/v1/jobs:cancel'),
      anon('root', '/'),
      anon('one-and-rest', '/two/*/**'),
      {
        id: 'file',
        match: { paths: ['/files/{name}'] },
        require: { contextRole: { context: 'file', id: 'f-{name}', anyOf: ['owner'] } },
      },
    ],
    { defaultDecision: 'deny' },
  );
  const ruleFor = (path: string, identity: Identity | null = null) => policy.authorize(request('GET', path), identity).ruleId;

  it.each([
    ['/a/b', 'exact'],
    ['/a/b/', 'exact'],
    ['/a', null],
    ['/a/b/c', null],
    ['/A/b', null],
    ['/one/x/end', 'one'],
    ['/one/end', null],
    ['/one/x/y/end', null],
    ['/rest', 'rest'],
    ['/rest/x', 'rest'],
    ['/rest/x/y/z', 'rest'],
    ['/restless', null],
    ['/café/menu', 'unicode'],
    ['/caf%C3%A9/menu', 'unicode'],
    ['/caf%c3%a9/menu', 'unicode'],
    ['/v1/jobs:cancel', 'colon'],
    ['/v1/jobs%3Acancel', 'colon'],
    ['/', 'root'],
    ['//?x=1', 'root'],
    ['/x', null],
    ['/two/x', 'one-and-rest'],
    ['/two/x/y', 'one-and-rest'],
    ['/two', null],
  ])('%s → %s', (path, rule) => {
    expect(ruleFor(path)).toBe(rule);
  });

  it('lists the parameters a template binds, in order, and none for a template without (what id templates may name)', () => {
    const params = (source: string) => {
      const parsed = parseTemplate(source);
      return parsed.ok ? templateParams(parsed.template) : parsed.message;
    };
    expect(params('/courses/{courseId}/students/{studentId}/**')).toEqual(['courseId', 'studentId']);
    expect(params('/a/*/b')).toEqual([]);
    expect(params('/')).toEqual([]);
  });

  it('refuses ** anywhere but last, wherever it stands (** is held in the segments as their last entry)', () => {
    for (const source of ['/**/b', '/a/b/**/c', '/a/**/**']) {
      expect(parseTemplate(source)).toEqual({ ok: false, message: `"${source}": "**" must be the last segment` });
    }
  });

  it('reads an encoded brace as a literal, never as a parameter, in a template and in a request', () => {
    const parsed = parseTemplate('/files/%7Bid%7D/{id}');
    if (!parsed.ok) throw new Error(parsed.message);
    expect(templateParams(parsed.template)).toEqual(['id']);
    expect(literalPrefix(parsed.template)).toEqual(['files', '%7Bid%7D']);
    const bound: Record<string, string> = {};
    expect(matchTemplate(parsed.template, ['files', '%7Bid%7D', '%7Bx%7D'], bound)).toBe(true);
    expect(bound).toEqual({ id: '{x}' });
    expect(matchTemplate(parsed.template, ['files', 'id', '7'], {})).toBe(false);
  });

  it('writes a template back as text for explanations: its literal segments in their canonical form', () => {
    const text = (source: string) => {
      const parsed = parseTemplate(source);
      return parsed.ok ? templateText(parsed.template) : parsed.message;
    };
    expect(text('/courses/{courseId}/*/grades/**')).toBe('/courses/{courseId}/*/grades/**');
    expect(text('/café/%7e%41')).toBe('/caf%C3%A9/~A');
    expect(text('/**')).toBe('/**');
    expect(text('/')).toBe('/');
  });

  it('binds parameters percent-decoded and resolves id templates', () => {
    const owner = { provider: 'idp', claims: { roles: { file: { owner: ['f-a b', 'f-é'] } } } };
    expect(policy.authorize(request('GET', '/files/a%20b'), owner)).toMatchObject({ ruleId: 'file', allowed: true });
    expect(policy.authorize(request('GET', '/files/%C3%A9'), owner)).toMatchObject({ ruleId: 'file', allowed: true });
    expect(policy.authorize(request('GET', '/files/a'), owner)).toMatchObject({
      ruleId: 'file',
      allowed: false,
      reason: 'context_role_mismatch',
    });
    // Not UTF-8: the id stays encoded and matches nothing the token could hold.
    const notUtf8 = policy.authorize(request('GET', '/files/%FF'), owner, { explain: true });
    expect(notUtf8).toMatchObject({ ruleId: 'file', allowed: false });
    expect(notUtf8.explanation).toContain("rule 'file' matches (name=%FF)");
  });
});

describe('literalPrefix: where the rule index files a template', () => {
  const prefix = (source: string) => {
    const parsed = parseTemplate(source);
    if (!parsed.ok) throw new Error(parsed.message);
    return literalPrefix(parsed.template);
  };

  it('is the literal segments before the first parameter, * or **', () => {
    expect(prefix('/a/b/c')).toEqual(['a', 'b', 'c']);
    expect(prefix('/orders/{id}/items')).toEqual(['orders']);
    expect(prefix('/a/b/*/c')).toEqual(['a', 'b']);
    expect(prefix('/a/**')).toEqual(['a']);
    expect(prefix('/caf%c3%a9/{x}')).toEqual(['caf%C3%A9']);
  });

  it('is empty for a template that starts with a parameter, *, ** or is the root', () => {
    expect(prefix('/{x}/y')).toEqual([]);
    expect(prefix('/*/y')).toEqual([]);
    expect(prefix('/**')).toEqual([]);
    expect(prefix('/')).toEqual([]);
  });
});
