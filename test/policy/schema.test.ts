import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  compilePolicy,
  defaultDecisionSchema,
  formatFieldPath,
  PolicyError,
  rulesSchema,
  type RuleConfig,
} from '../../src/policy/index.js';
import { edtechRules } from './helpers.js';

/** Validates a `rules:` YAML list and renders each problem as the config loader would: `[i].field: message`. */
function problems(yaml: string): string[] {
  const result = rulesSchema.safeParse(parse(yaml));
  if (result.success) return [];
  return result.error.issues.map((issue) => `${formatFieldPath(issue.path.filter((p) => typeof p !== 'symbol'))}: ${issue.message}`);
}

const cases: Array<[name: string, yaml: string, expected: RegExp]> = [
  [
    'unclosed parameter',
    `- { id: a, match: { paths: ["/a/{x"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: "\/a\/\{x": "\{x" is not a parameter; .*e\.g\. \/files\/\{name\}/,
  ],
  [
    'unopened parameter',
    `- { id: a, match: { paths: ["/files/name}"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: "\/files\/name\}": "name\}" is not a parameter/,
  ],
  [
    'partial-segment parameter',
    `- { id: a, match: { paths: ["/files/{name}.json"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*fills a whole segment/,
  ],
  [
    'bad parameter name',
    `- { id: a, match: { paths: ["/a/{1x}"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*parameter name "1x"/,
  ],
  [
    'parameter name with a dash',
    `- { id: a, match: { paths: ["/a/{file-name}"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*parameter name "file-name" must be letters, digits or "_"/,
  ],
  [
    'repeated parameter',
    `- { id: a, match: { paths: ["/a/{x}/{x}"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*\{x\} appears twice/,
  ],
  [
    '** not last',
    `- { id: a, match: { paths: ["/a/**/b"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*"\*\*" must be the last segment/,
  ],
  [
    'star mixed with text',
    `- { id: a, match: { paths: ["/a*"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*mixes "\*" with text/,
  ],
  [
    'relative template',
    `- { id: a, match: { paths: ["a/b"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: "a\/b" must start with "\/"/,
  ],
  [
    'trailing slash template',
    `- { id: a, match: { paths: ["/a/"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*remove the trailing "\/"/,
  ],
  [
    'empty segment in a template',
    `- { id: a, match: { paths: ["/a//b"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: "\/a\/\/b": empty segment "\/\/"; write single slashes/,
  ],
  [
    'query in template',
    `- { id: a, match: { paths: ["/a?x=1"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*query strings/,
  ],
  [
    'dot segment in template',
    `- { id: a, match: { paths: ["/a/../b"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*"\." and "\.\." segments/,
  ],
  [
    'encoded slash in template',
    `- { id: a, match: { paths: ["/a%2Fb"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths\[0\]: .*encoded "\/"/,
  ],
  [
    'duplicate ids',
    `- { id: a, match: { paths: ["/a"] }, require: { authenticated: true } }\n- { id: a, match: { paths: ["/b"] }, require: { authenticated: true } }`,
    /^\[1\]\.id: duplicate id "a" \(also rules\[0\]\); rule ids must be unique/,
  ],
  [
    'unknown rule key',
    `- { id: a, matches: { paths: ["/a"] }, match: { paths: ["/a"] }, require: { authenticated: true } }`,
    /^\[0\]: unknown key "matches" in a rule; allowed keys: id, match, require, dryRun/,
  ],
  [
    'unknown require key',
    `- { id: a, match: { paths: ["/a"] }, require: { role: [admin] } }`,
    /^\[0\]\.require: unknown key "role" in require; allowed keys: anonymous, authenticated, providers, scopes, roles, claims, contextRole, peer, actor, when, anyOf/,
  ],
  [
    'unknown key in an alternative',
    `- { id: a, match: { paths: ["/a"] }, require: { anyOf: [{ anonymous: true }, { authenticated: true }] } }`,
    /^\[0\]\.require\.anyOf\[0\]: unknown key "anonymous" in an anyOf alternative/,
  ],
  [
    'unknown match key',
    `- { id: a, match: { path: ["/a"] }, require: { authenticated: true } }`,
    /^\[0\]\.match: unknown key "path" in match; allowed keys: hosts, methods, paths, headers/,
  ],
  [
    'anonymous with roles',
    `- { id: a, match: { paths: ["/a"] }, require: { anonymous: true, roles: { anyOf: [admin] } } }`,
    /^\[0\]\.require\.anonymous: anonymous: true opens the route and cannot be combined with roles/,
  ],
  [
    'anonymous with peer',
    `- { id: a, match: { paths: ["/a"] }, require: { anonymous: true, peer: { principals: [spiffe://a/b] } } }`,
    /^\[0\]\.require\.anonymous: .*cannot be combined with peer/,
  ],
  [
    'anonymous false',
    `- { id: a, match: { paths: ["/a"] }, require: { anonymous: false } }`,
    /^\[0\]\.require\.anonymous: anonymous can only be true; remove the key/,
  ],
  ['missing require', `- { id: a, match: { paths: ["/a"] } }`, /^\[0\]\.require: require is missing: .*require: \{ anonymous: true \}/],
  ['empty require', `- { id: a, match: { paths: ["/a"] }, require: {} }`, /^\[0\]\.require: no requirement given; .*anonymous: true/],
  ['missing match', `- { id: a, require: { authenticated: true } }`, /^\[0\]\.match: match is missing/],
  [
    'empty match',
    `- { id: a, match: {}, require: { authenticated: true } }`,
    /^\[0\]\.match: give at least one of hosts, methods, paths, headers or direction; paths: \["\/\*\*"\] matches every request/,
  ],
  [
    'missing id',
    `- { match: { paths: ["/a"] }, require: { authenticated: true } }`,
    /^\[0\]\.id: id is missing: give each rule a unique id/,
  ],
  ['bad id', `- { id: "has space", match: { paths: ["/a"] }, require: { authenticated: true } }`, /^\[0\]\.id: id must be 1-64 characters/],
  [
    'id not a string',
    `- { id: 5, match: { paths: ["/a"] }, require: { authenticated: true } }`,
    /^\[0\]\.id: id must be a string, e.g. id: course-grades/,
  ],
  [
    'context id not bound',
    `- { id: a, match: { paths: ["/courses/{id}/grades"] }, require: { contextRole: { context: course, id: "{courseId}", anyOf: [teacher] } } }`,
    /^\[0\]\.require\.contextRole\.id: \{courseId\} is not a parameter of every path/,
  ],
  [
    'context id bound by only one path',
    `- { id: a, match: { paths: ["/c/{courseId}", "/c"] }, require: { contextRole: { context: course, id: "{courseId}", anyOf: [teacher] } } }`,
    /^\[0\]\.require\.contextRole\.id: \{courseId\} is not a parameter of every path/,
  ],
  [
    'context id without paths',
    `- { id: a, match: { methods: [GET] }, require: { contextRole: { context: course, id: "{courseId}", anyOf: [teacher] } } }`,
    /^\[0\]\.require\.contextRole\.id: .*the rule has no match\.paths/,
  ],
  [
    'context id in an alternative',
    `- { id: a, match: { paths: ["/c/{x}"] }, require: { anyOf: [{ authenticated: true }, { contextRole: { context: c, id: "{y}", anyOf: [t] } }] } }`,
    /^\[0\]\.require\.anyOf\[1\]\.contextRole\.id: \{y\}/,
  ],
  [
    'unbalanced brace in id',
    `- { id: a, match: { paths: ["/c/{x}"] }, require: { contextRole: { context: c, id: "{x", anyOf: [t] } } }`,
    /^\[0\]\.require\.contextRole\.id: .*unbalanced brace/,
  ],
  [
    'contextRole without anyOf',
    `- { id: a, match: { paths: ["/c/{x}"] }, require: { contextRole: { context: c, id: "{x}" } } }`,
    /^\[0\]\.require\.contextRole\.anyOf: contextRole\.anyOf must be a list, e\.g\. \[teacher, ta\]/,
  ],
  [
    'roles without allOf or anyOf',
    `- { id: a, match: { paths: ["/a"] }, require: { roles: { claim: roles } } }`,
    /^\[0\]\.require\.roles: give allOf and\/or anyOf/,
  ],
  [
    'empty role list',
    `- { id: a, match: { paths: ["/a"] }, require: { roles: { anyOf: [] } } }`,
    /^\[0\]\.require\.roles\.anyOf: roles\.anyOf must list at least one value/,
  ],
  [
    'bad claim path',
    `- { id: a, match: { paths: ["/a"] }, require: { roles: { claim: "a..b", anyOf: [x] } } }`,
    /^\[0\]\.require\.roles\.claim: claim path "a\.\.b" has an empty part/,
  ],
  [
    'claim condition with two operators',
    `- { id: a, match: { paths: ["/a"] }, require: { claims: [{ path: tier, equals: gold, oneOf: [gold] }] } }`,
    /^\[0\]\.require\.claims\[0\]: give exactly one of equals, oneOf or contains/,
  ],
  [
    'claim condition with an object',
    `- { id: a, match: { paths: ["/a"] }, require: { claims: [{ path: tier, equals: { a: 1 } }] } }`,
    /^\[0\]\.require\.claims\[0\]\.equals: must be a string, number or boolean/,
  ],
  [
    'header with two operators',
    `- { id: a, match: { paths: ["/a"], headers: [{ name: x-t, equals: a, present: true }] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.headers\[0\]: give exactly one of equals, oneOf or present/,
  ],
  [
    'pseudo-header condition',
    `- { id: a, match: { headers: [{ name: ":path", equals: /a }] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.headers\[0\]: ":path" is a pseudo-header/,
  ],
  [
    'host with port',
    `- { id: a, match: { hosts: ["api.example.com:443"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.hosts\[0\]: "api\.example\.com:443" is not a host name; write it without scheme, port or path/,
  ],
  [
    'IPv6 host with port',
    `- { id: a, match: { hosts: ["[::1]:8080"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.hosts\[0\]: "\[::1\]:8080" is not a host name/,
  ],
  [
    'IPv6 host with scheme',
    `- { id: a, match: { hosts: ["http://[::1]"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.hosts\[0\]: "http:\/\/\[::1\]" is not a host name/,
  ],
  [
    'two methods in one entry',
    `- { id: a, match: { methods: ["GET POST"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.methods\[0\]: "GET POST" is not an HTTP method/,
  ],
  [
    'bad method',
    `- { id: a, match: { methods: ["GET /"] }, require: { authenticated: true } }`,
    /^\[0\]\.match\.methods\[0\]: "GET \/" is not an HTTP method/,
  ],
  [
    'principal with inner star',
    `- { id: a, match: { paths: ["/a"] }, require: { peer: { principals: ["spiffe://x/ns/edge*"] } } }`,
    /^\[0\]\.require\.peer\.principals\[0\]: .*only allowed as a final "\/\*"/,
  ],
  [
    'principal matching anything',
    `- { id: a, match: { paths: ["/a"] }, require: { peer: { principals: ["*"] } } }`,
    /^\[0\]\.require\.peer\.principals\[0\]: "\*" would match any workload/,
  ],
  [
    'one-alternative anyOf',
    `- { id: a, match: { paths: ["/a"] }, require: { anyOf: [{ authenticated: true, peer: { principals: [spiffe://a/b] } }] } }`,
    /^\[0\]\.require\.anyOf: anyOf needs at least two alternatives/,
  ],
  [
    'empty alternative',
    `- { id: a, match: { paths: ["/a"] }, require: { anyOf: [{}, { authenticated: true }] } }`,
    /^\[0\]\.require\.anyOf\[0\]: no requirement given/,
  ],
  [
    'authenticated false',
    `- { id: a, match: { paths: ["/a"] }, require: { authenticated: false } }`,
    /^\[0\]\.require\.authenticated: authenticated can only be true/,
  ],
  ['rules not a list', `{ id: a }`, /^: rules must be a list of rules/],
  [
    'paths not a list',
    `- { id: a, match: { paths: "/a" }, require: { authenticated: true } }`,
    /^\[0\]\.match\.paths: paths must be a list, e\.g\./,
  ],
];

describe('rulesSchema errors name the field and the fix', () => {
  it.each(cases)('%s', (_name, yaml, expected) => {
    const found = problems(yaml);
    expect(
      found.some((p) => expected.test(p)),
      `got:\n${found.join('\n')}`,
    ).toBe(true);
  });

  it('reports every broken rule, not only the first', () => {
    const found = problems(`
- { id: a, match: { paths: ["/a/{x"] }, require: { authenticated: true } }
- { id: b, match: { paths: ["/b"] }, require: { anonymous: true, authenticated: true } }
- { id: a, match: { paths: ["/c"] }, require: { authenticated: true } }`);
    expect(found).toHaveLength(3);
  });
});

describe('rulesSchema accepts', () => {
  it('the ed-tech policy', () => {
    expect(edtechRules()).toHaveLength(13);
  });

  it('the reference example from the issue', () => {
    const found = problems(`
- id: health
  match: { paths: [/healthz] }
  require: { anonymous: true }
- id: course-grades
  match: { methods: [GET], paths: ["/courses/{courseId}/grades"], hosts: [api.example.com], headers: [{ name: x-tenant, equals: a }] }
  require:
    contextRole: { claim: roles, context: course, id: "{courseId}", anyOf: [teacher, ta] }
- id: payments
  match: { paths: ["/payments/**"] }
  require: { authenticated: true, peer: { principals: ["spiffe://cluster.local/ns/edge/sa/gateway"] } }
- id: admin
  match: { paths: ["/admin/**"] }
  require: { roles: { claim: realm_access.roles, anyOf: [admin] }, scopes: { allOf: [admin:write] }, providers: [idp], claims: [{ path: email_verified, equals: true }, { path: groups, contains: staff }, { path: tier, oneOf: [gold, silver] }] }
  dryRun: true
- id: either
  match: { paths: ["/reports/**"] }
  require: { anyOf: [ { roles: { anyOf: [auditor] } }, { peer: { principals: ["spiffe://cluster.local/ns/analytics/sa/exporter"] } } ] }
`);
    expect(found).toEqual([]);
  });
});

describe('defaultDecisionSchema', () => {
  it('defaults to deny and names the choices', () => {
    expect(defaultDecisionSchema.parse(undefined)).toBe('deny');
    expect(defaultDecisionSchema.parse('allow')).toBe('allow');
    const result = defaultDecisionSchema.safeParse('permit');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('defaultDecision must be "deny" or "allow"');
  });
});

describe('compilePolicy validates rules built in code', () => {
  const rule = (id: string, path: string): RuleConfig => ({ id, match: { paths: [path] }, require: { authenticated: true } });

  it('throws PolicyError naming the rule and the field', () => {
    const error = (() => {
      try {
        compilePolicy([rule('ok', '/a'), rule('broken', '/a/{x')], { defaultDecision: 'deny' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(PolicyError);
    expect(error).toMatchObject({ ruleId: 'broken', field: ['match', 'paths', 0] });
    expect((error as PolicyError).message).toMatch(/^rule 'broken': match\.paths\[0\]: "\/a\/\{x": /);
  });

  it('rejects duplicate ids', () => {
    expect(() => compilePolicy([rule('x', '/a'), rule('x', '/b')], { defaultDecision: 'deny' })).toThrow("rule 'x': id: duplicate rule id");
  });

  it('rejects anonymous combined with user requirements', () => {
    expect(() =>
      compilePolicy([{ id: 'x', match: { paths: ['/a'] }, require: { anonymous: true, scopes: { anyOf: ['s'] } } }], {
        defaultDecision: 'deny',
      }),
    ).toThrow(/cannot be combined with scopes/);
  });
});

describe("rulesSchema's own messages, word for word", () => {
  // The messages a config's author reads: the loader keeps them as written, except unknown keys (see load.test.ts).
  it.each([
    [
      'one unknown key',
      `- { id: a, match: { paths: ["/a"], path: x }, require: { authenticated: true } }`,
      ['[0].match: unknown key "path" in match; allowed keys: hosts, methods, paths, headers, direction'],
    ],
    [
      'two unknown keys, named together',
      `- { id: a, match: { paths: ["/a"], path: x, host: y }, require: { authenticated: true } }`,
      ['[0].match: unknown keys "path", "host" in match; allowed keys: hosts, methods, paths, headers, direction'],
    ],
    [
      'a match that is not a mapping',
      `- { id: a, match: "/a", require: { authenticated: true } }`,
      ['[0].match: match must be a mapping with keys: hosts, methods, paths, headers, direction'],
    ],
    [
      'a missing match',
      `- { id: a, require: { authenticated: true } }`,
      ['[0].match: match is missing: say which requests the rule covers, e.g. match: { paths: ["/courses/**"] }'],
    ],
    [
      'a rule that is not a mapping',
      `- "/a"`,
      ['[0]: a rule must be a mapping with keys: id, match, require, dryRun, internalToken, rollout'],
    ],
    [
      'a header name that is not a string',
      `- { id: a, match: { headers: [{ name: 5, present: true }] }, require: { authenticated: true } }`,
      ['[0].match.headers[0].name: headers[].name must be a string'],
    ],
    [
      'an empty header name',
      `- { id: a, match: { headers: [{ name: "", present: true }] }, require: { authenticated: true } }`,
      ['[0].match.headers[0].name: headers[].name must not be empty'],
    ],
    [
      'an empty path',
      `- { id: a, match: { paths: ["/a", ""] }, require: { authenticated: true } }`,
      ['[0].match.paths[1]: each entry of paths must not be empty', '[0].match.paths[1]: "" must start with "/"'],
    ],
    [
      'a path that is not a string',
      `- { id: a, match: { paths: [5] }, require: { authenticated: true } }`,
      ['[0].match.paths[0]: each entry of paths must be a string'],
    ],
    [
      'header equals not a string',
      `- { id: a, match: { headers: [{ name: x-t, equals: 5 }] }, require: { authenticated: true } }`,
      ['[0].match.headers[0].equals: equals must be a string'],
    ],
    [
      'header oneOf empty',
      `- { id: a, match: { headers: [{ name: x-t, oneOf: [] }] }, require: { authenticated: true } }`,
      ['[0].match.headers[0].oneOf: oneOf must list at least one value, e.g. [a, b]; remove the key to drop the condition'],
    ],
    [
      'header oneOf empty entry',
      `- { id: a, match: { headers: [{ name: x-t, oneOf: [""] }] }, require: { authenticated: true } }`,
      ['[0].match.headers[0].oneOf[0]: each entry of oneOf must not be empty'],
    ],
    [
      'header present not boolean',
      `- { id: a, match: { headers: [{ name: x-t, present: "yes" }] }, require: { authenticated: true } }`,
      ['[0].match.headers[0].present: present must be true or false'],
    ],
    [
      'header condition not a mapping',
      `- { id: a, match: { headers: [x-t] }, require: { authenticated: true } }`,
      ['[0].match.headers[0]: a header condition must be a mapping with keys: name, equals, oneOf, present'],
    ],
    [
      'header condition unknown key',
      `- { id: a, match: { headers: [{ name: x-t, present: true, value: a }] }, require: { authenticated: true } }`,
      ['[0].match.headers[0]: unknown key "value" in a header condition; allowed keys: name, equals, oneOf, present'],
    ],
    [
      'hosts not a list',
      `- { id: a, match: { hosts: api.example.com }, require: { authenticated: true } }`,
      ['[0].match.hosts: hosts must be a list, e.g. [api.example.com]'],
    ],
    [
      'hosts empty',
      `- { id: a, match: { hosts: [] }, require: { authenticated: true } }`,
      ['[0].match.hosts: hosts must list at least one value, e.g. [api.example.com]; remove the key to drop the condition'],
    ],
    [
      'methods not a list',
      `- { id: a, match: { methods: GET }, require: { authenticated: true } }`,
      ['[0].match.methods: methods must be a list, e.g. [GET, POST]'],
    ],
    [
      'paths empty',
      `- { id: a, match: { paths: [] }, require: { authenticated: true } }`,
      ['[0].match.paths: paths must list at least one value, e.g. ["/courses/{courseId}/grades"]; remove the key to drop the condition'],
    ],
    [
      'headers not a list',
      `- { id: a, match: { headers: { name: x-t } }, require: { authenticated: true } }`,
      ['[0].match.headers: headers must be a list of { name, equals | oneOf | present }'],
    ],
    [
      'headers empty',
      `- { id: a, match: { headers: [] }, require: { authenticated: true } }`,
      ['[0].match.headers: headers must list at least one condition; remove the key to drop it'],
    ],
    [
      'scopes allOf empty',
      `- { id: a, match: { paths: ["/a"] }, require: { scopes: { allOf: [] } } }`,
      ['[0].require.scopes.allOf: scopes.allOf must list at least one value, e.g. [courses:read]; remove the key to drop the condition'],
    ],
    [
      'scopes anyOf not a list',
      `- { id: a, match: { paths: ["/a"] }, require: { scopes: { anyOf: read } } }`,
      ['[0].require.scopes.anyOf: scopes.anyOf must be a list, e.g. [courses:read]'],
    ],
    [
      'scopes unknown key',
      `- { id: a, match: { paths: ["/a"] }, require: { scopes: { anyof: [read] } } }`,
      [
        '[0].require.scopes: unknown key "anyof" in scopes; allowed keys: allOf, anyOf',
        '[0].require.scopes: give allOf and/or anyOf, e.g. scopes: { anyOf: [courses:read] }',
      ],
    ],
    [
      'roles claim empty',
      `- { id: a, match: { paths: ["/a"] }, require: { roles: { claim: "", anyOf: [admin] } } }`,
      [
        '[0].require.roles.claim: roles.claim must not be empty',
        '[0].require.roles.claim: claim path "" has an empty part; write names joined by single dots, e.g. realm_access.roles',
      ],
    ],
    [
      'roles anyOf empty',
      `- { id: a, match: { paths: ["/a"] }, require: { roles: { anyOf: [] } } }`,
      ['[0].require.roles.anyOf: roles.anyOf must list at least one value, e.g. [admin]; remove the key to drop the condition'],
    ],
    [
      'roles unknown key',
      `- { id: a, match: { paths: ["/a"] }, require: { roles: { any: [admin] } } }`,
      [
        '[0].require.roles: unknown key "any" in roles; allowed keys: claim, allOf, anyOf',
        '[0].require.roles: give allOf and/or anyOf, e.g. roles: { anyOf: [admin] }',
      ],
    ],
    [
      'providers not a list',
      `- { id: a, match: { paths: ["/a"] }, require: { providers: idp } }`,
      ['[0].require.providers: providers must be a list, e.g. [idp]'],
    ],
    [
      'claims not a list',
      `- { id: a, match: { paths: ["/a"] }, require: { claims: { path: tier, equals: gold } } }`,
      ['[0].require.claims: claims must be a list of { path, equals | oneOf | contains }'],
    ],
    [
      'claims empty',
      `- { id: a, match: { paths: ["/a"] }, require: { claims: [] } }`,
      [
        '[0].require.claims: claims must list at least one condition; remove the key to drop it',
        '[0].require: no requirement given; state who may pass, or write require: { anonymous: true } to open the route',
      ],
    ],
    [
      'claim path missing',
      `- { id: a, match: { paths: ["/a"] }, require: { claims: [{ equals: gold }] } }`,
      ['[0].require.claims[0].path: claims[].path must be a string'],
    ],
    [
      'claim oneOf not a list',
      `- { id: a, match: { paths: ["/a"] }, require: { claims: [{ path: tier, oneOf: gold }] } }`,
      ['[0].require.claims[0].oneOf: oneOf must be a list'],
    ],
    [
      'claim oneOf empty',
      `- { id: a, match: { paths: ["/a"] }, require: { claims: [{ path: tier, oneOf: [] }] } }`,
      ['[0].require.claims[0].oneOf: oneOf must list at least one value'],
    ],
    [
      'claim condition not a mapping',
      `- { id: a, match: { paths: ["/a"] }, require: { claims: [tier] } }`,
      ['[0].require.claims[0]: a claim condition must be a mapping with keys: path, equals, oneOf, contains'],
    ],
    [
      'claim condition unknown key',
      `- { id: a, match: { paths: ["/a"] }, require: { claims: [{ path: tier, equal: gold }] } }`,
      [
        '[0].require.claims[0]: unknown key "equal" in a claim condition; allowed keys: path, equals, oneOf, contains',
        '[0].require.claims[0]: give exactly one of equals, oneOf or contains for claim "tier"',
      ],
    ],
    [
      'contextRole empty claim',
      `- { id: a, match: { paths: ["/c/{x}"] }, require: { contextRole: { claim: "", context: c, id: "{x}", anyOf: [t] } } }`,
      [
        '[0].require.contextRole.claim: contextRole.claim must not be empty',
        '[0].require.contextRole.claim: claim path "" has an empty part; write names joined by single dots, e.g. realm_access.roles',
      ],
    ],
    [
      'contextRole empty context',
      `- { id: a, match: { paths: ["/c/{x}"] }, require: { contextRole: { context: "", id: "{x}", anyOf: [t] } } }`,
      ['[0].require.contextRole.context: contextRole.context must not be empty'],
    ],
    [
      'contextRole id not a string',
      `- { id: a, match: { paths: ["/c/{x}"] }, require: { contextRole: { context: c, id: 5, anyOf: [t] } } }`,
      ['[0].require.contextRole.id: contextRole.id must be a string'],
    ],
    [
      'contextRole anyOf empty',
      `- { id: a, match: { paths: ["/c/{x}"] }, require: { contextRole: { context: c, id: "{x}", anyOf: [] } } }`,
      [
        '[0].require.contextRole.anyOf: contextRole.anyOf must list at least one value, e.g. [teacher, ta]; remove the key to drop the condition',
      ],
    ],
    [
      'contextRole empty fallback',
      `- { id: a, match: { paths: ["/c/{x}"] }, require: { contextRole: { context: c, id: "{x}", anyOf: [t], fallback: "" } } }`,
      ['[0].require.contextRole.fallback: contextRole.fallback must not be empty'],
    ],
    [
      'contextRole unknown key',
      `- { id: a, match: { paths: ["/c/{x}"] }, require: { contextRole: { context: c, id: "{x}", anyOf: [t], role: t } } }`,
      ['[0].require.contextRole: unknown key "role" in contextRole; allowed keys: claim, context, id, anyOf, fallback'],
    ],
    [
      'peer principals empty',
      `- { id: a, match: { paths: ["/a"] }, require: { peer: { principals: [] } } }`,
      [
        '[0].require.peer.principals: peer.principals must list at least one value, e.g. ["spiffe://cluster.local/ns/edge/sa/gateway"]; remove the key to drop the condition',
      ],
    ],
    [
      'peer unknown key',
      `- { id: a, match: { paths: ["/a"] }, require: { peer: { principal: x } } }`,
      [
        '[0].require.peer.principals: peer.principals must be a list, e.g. ["spiffe://cluster.local/ns/edge/sa/gateway"]',
        '[0].require.peer: unknown key "principal" in peer; allowed keys: principals',
      ],
    ],
    [
      'actor principals empty',
      `- { id: a, match: { paths: ["/a"] }, require: { actor: { principals: [] } } }`,
      [
        '[0].require.actor.principals: actor.principals must list at least one value, e.g. ["spiffe://cluster.local/ns/edge/sa/gateway"]; remove the key to drop the condition',
      ],
    ],
    [
      'actor depth not a number',
      `- { id: a, match: { paths: ["/a"] }, require: { actor: { principals: ["spiffe://a/b"], maxChainDepth: "2" } } }`,
      ['[0].require.actor.maxChainDepth: actor.maxChainDepth must be a number'],
    ],
    [
      'actor depth out of range',
      `- { id: a, match: { paths: ["/a"] }, require: { actor: { principals: ["spiffe://a/b"], maxChainDepth: 17 } } }`,
      ['[0].require.actor.maxChainDepth: actor.maxChainDepth must be a whole number from 1 to 16'],
    ],
    [
      'actor depth not whole',
      `- { id: a, match: { paths: ["/a"] }, require: { actor: { principals: ["spiffe://a/b"], maxChainDepth: 1.5 } } }`,
      ['[0].require.actor.maxChainDepth: actor.maxChainDepth must be a whole number from 1 to 16'],
    ],
    [
      'actor unknown key',
      `- { id: a, match: { paths: ["/a"] }, require: { actor: { principals: ["spiffe://a/b"], depth: 2 } } }`,
      ['[0].require.actor: unknown key "depth" in actor; allowed keys: principals, maxChainDepth'],
    ],
    [
      'anyOf not a list',
      `- { id: a, match: { paths: ["/a"] }, require: { anyOf: { authenticated: true } } }`,
      ['[0].require.anyOf: anyOf must be a list of requirement sets'],
    ],
    [
      'dryRun not a boolean',
      `- { id: a, match: { paths: ["/a"] }, require: { authenticated: true }, dryRun: "yes" }`,
      ['[0].dryRun: dryRun must be true or false'],
    ],
    [
      'require not a mapping',
      `- { id: a, match: { paths: ["/a"] }, require: authenticated }`,
      [
        '[0].require: require must be a mapping with keys: anonymous, authenticated, providers, scopes, roles, claims, contextRole, peer, actor, when, anyOf',
      ],
    ],
  ])('%s', (_name, yaml, expected) => {
    expect(problems(yaml)).toEqual(expected);
  });
});
