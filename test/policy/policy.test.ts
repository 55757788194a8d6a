import { describe, expect, it } from 'vitest';
import {
  compilePolicy,
  rulesSchema,
  type AuthzRequest,
  type ContextAnswers,
  type Decision,
  type Identity,
  type Policy,
} from '../../src/policy/index.js';
import { edtechPolicy, request } from './helpers.js';

const GATEWAY = 'spiffe://cluster.local/ns/edge/sa/gateway';
const EXPORTER = 'spiffe://cluster.local/ns/analytics/sa/exporter';
const PROMETHEUS = 'spiffe://cluster.local/ns/monitoring/sa/prometheus';

const user = (claims: Record<string, unknown>, provider = 'idp'): Identity => ({ provider, claims: { sub: 'u1', ...claims } });

// The token shape from the issue: teacher of 123 and 345, student of 567, TA of 246.
const teacher = user({ roles: { course: { teacher: ['123', '345'], student: ['567'], ta: ['246'] } } });
const numericTeacher = user({ roles: { course: { teacher: [123] } } });
const flatTeacher = user({ roles: ['teacher', 'ta'] });
const otherContextTeacher = user({ roles: { school: { teacher: ['123'] } } });
const admin = user({
  realm_access: { roles: ['admin'] },
  scope: 'openid admin:write',
  email_verified: true,
  groups: ['staff', 'it'],
  tier: 'gold',
});
const auditor = user({ roles: ['auditor'] });
const plain = user({});

type Expected = Pick<Decision, 'allowed' | 'ruleId' | 'reason' | 'status'>;
const allow = (ruleId: string | null): Expected => ({ allowed: true, ruleId, reason: 'allowed', status: 'ok' });
const forbid = (ruleId: string | null, reason: Decision['reason']): Expected => ({
  allowed: false,
  ruleId,
  reason,
  status: 'permission_denied',
});
const unauthenticated = (ruleId: string): Expected => ({
  allowed: false,
  ruleId,
  reason: 'authentication_required',
  status: 'unauthenticated',
});

interface Case {
  name: string;
  method?: string;
  path: string;
  host?: string;
  identity?: Identity | null;
  principal?: string;
  headers?: Record<string, string>;
  expected: Expected;
}

const cases: Case[] = [
  // health: anonymous, even with a token, whatever the query or trailing slash
  { name: 'health without token', path: '/healthz', expected: allow('health') },
  { name: 'health with a token', path: '/healthz', identity: plain, expected: allow('health') },
  { name: 'health with query and trailing slash', path: '/healthz/?probe=1', expected: allow('health') },
  { name: 'health any method', method: 'POST', path: '/healthz', expected: allow('health') },

  // docs: GET (and HEAD) only, ** covers the root of the subtree
  { name: 'docs page', path: '/docs/guide/intro', expected: allow('docs') },
  { name: 'docs root', path: '/docs', expected: allow('docs') },
  { name: 'docs HEAD follows GET', method: 'HEAD', path: '/docs/x', expected: allow('docs') },
  { name: 'docs lower-case method', method: 'get', path: '/docs/x', expected: allow('docs') },
  { name: 'docs POST matches nothing', method: 'POST', path: '/docs/x', expected: forbid(null, 'no_matching_rule') },

  // course grades (read): teacher or TA of THIS course
  { name: 'teacher reads own course grades', path: '/courses/123/grades', identity: teacher, expected: allow('course-grades-read') },
  { name: 'teacher of second course', path: '/courses/345/grades', identity: teacher, expected: allow('course-grades-read') },
  { name: 'TA reads own course grades', path: '/courses/246/grades', identity: teacher, expected: allow('course-grades-read') },
  {
    name: 'IDOR: teacher of 123 reads course 999',
    path: '/courses/999/grades',
    identity: teacher,
    expected: forbid('course-grades-read', 'context_role_mismatch'),
  },
  {
    name: 'student cannot read grades of own course',
    path: '/courses/567/grades',
    identity: teacher,
    expected: forbid('course-grades-read', 'context_role_mismatch'),
  },
  {
    name: 'flat role without context is not a context role',
    path: '/courses/123/grades',
    identity: flatTeacher,
    expected: forbid('course-grades-read', 'context_role_mismatch'),
  },
  {
    name: 'role in another context does not count',
    path: '/courses/123/grades',
    identity: otherContextTeacher,
    expected: forbid('course-grades-read', 'context_role_mismatch'),
  },
  { name: 'numeric ids in the token', path: '/courses/123/grades', identity: numericTeacher, expected: allow('course-grades-read') },
  {
    name: 'numeric id does not match a different course',
    path: '/courses/1234/grades',
    identity: numericTeacher,
    expected: forbid('course-grades-read', 'context_role_mismatch'),
  },
  { name: 'grades without a token', path: '/courses/123/grades', identity: null, expected: unauthenticated('course-grades-read') },
  {
    name: 'HEAD on grades is guarded like GET',
    method: 'HEAD',
    path: '/courses/999/grades',
    identity: teacher,
    expected: forbid('course-grades-read', 'context_role_mismatch'),
  },
  {
    name: 'encoded digits normalize to the real course',
    path: '/courses/%31%32%33/grades',
    identity: teacher,
    expected: allow('course-grades-read'),
  },
  {
    name: 'dot segments cannot smuggle another course id',
    path: '/courses/123/grades/../../999/grades',
    identity: teacher,
    expected: forbid('course-grades-read', 'context_role_mismatch'),
  },
  {
    name: 'encoded slash inside the id is rejected',
    path: '/courses/123%2F..%2F999/grades',
    identity: teacher,
    expected: forbid(null, 'invalid_path'),
  },
  { name: 'path parameter trick is rejected', path: '/courses/999;123/grades', identity: teacher, expected: forbid(null, 'invalid_path') },

  // course grades (write): teacher only, two templates bind the same parameter
  {
    name: 'teacher writes a grade',
    method: 'PUT',
    path: '/courses/123/grades/s-42',
    identity: teacher,
    expected: allow('course-grades-write'),
  },
  {
    name: 'TA cannot write grades',
    method: 'POST',
    path: '/courses/246/grades',
    identity: teacher,
    expected: forbid('course-grades-write', 'context_role_mismatch'),
  },
  {
    name: 'teacher cannot write another course',
    method: 'PUT',
    path: '/courses/999/grades/s-42',
    identity: teacher,
    expected: forbid('course-grades-write', 'context_role_mismatch'),
  },

  // course material: any member of the course
  { name: 'student reads own course material', path: '/courses/567/syllabus', identity: teacher, expected: allow('course-material') },
  {
    name: 'student cannot read another course',
    path: '/courses/999/syllabus',
    identity: teacher,
    expected: forbid('course-material', 'context_role_mismatch'),
  },
  { name: 'course root is course material', path: '/courses/567', identity: teacher, expected: allow('course-material') },
  {
    name: 'DELETE on grades falls to course material rule, not through it',
    method: 'DELETE',
    path: '/courses/999/grades',
    identity: teacher,
    expected: forbid('course-material', 'context_role_mismatch'),
  },

  // payments: user AND the gateway workload
  {
    name: 'payments through the gateway',
    method: 'POST',
    path: '/payments/charge',
    identity: plain,
    principal: GATEWAY,
    expected: allow('payments'),
  },
  {
    name: 'payments from another workload',
    method: 'POST',
    path: '/payments/charge',
    identity: plain,
    principal: 'spiffe://cluster.local/ns/edge/sa/other',
    expected: forbid('payments', 'peer_not_allowed'),
  },
  {
    name: 'payments without workload identity',
    method: 'POST',
    path: '/payments/charge',
    identity: plain,
    expected: forbid('payments', 'peer_not_allowed'),
  },
  {
    name: 'payments through the gateway but no token',
    method: 'POST',
    path: '/payments/charge',
    principal: GATEWAY,
    expected: unauthenticated('payments'),
  },
  {
    name: 'payments: wrong workload and no token is 403',
    path: '/payments',
    principal: 'spiffe://x/y',
    expected: forbid('payments', 'peer_not_allowed'),
  },

  // webhook: workload only, namespace prefix
  {
    name: 'billing workload posts a webhook',
    method: 'POST',
    path: '/webhooks/payments',
    principal: 'spiffe://cluster.local/ns/billing/sa/stripe',
    expected: allow('payments-webhook'),
  },
  {
    name: 'look-alike namespace is not the prefix',
    method: 'POST',
    path: '/webhooks/payments',
    principal: 'spiffe://cluster.local/ns/billing-evil/sa/x',
    expected: forbid('payments-webhook', 'peer_not_allowed'),
  },
  {
    name: 'a user token is no workload identity',
    method: 'POST',
    path: '/webhooks/payments',
    identity: admin,
    expected: forbid('payments-webhook', 'peer_not_allowed'),
  },

  // admin: provider + role at a nested claim + scope + claims
  { name: 'admin with everything', path: '/admin/users', identity: admin, expected: allow('admin') },
  { name: 'admin root', method: 'DELETE', path: '/admin', identity: admin, expected: allow('admin') },
  {
    name: 'admin from another provider',
    path: '/admin/users',
    identity: { ...admin, provider: 'partner' },
    expected: forbid('admin', 'provider_not_allowed'),
  },
  {
    name: 'admin role only in flat roles',
    path: '/admin/users',
    identity: user({ ...admin.claims, realm_access: {}, roles: ['admin'] }),
    expected: forbid('admin', 'missing_role'),
  },
  {
    name: 'admin without the scope',
    path: '/admin/users',
    identity: user({ ...admin.claims, scope: 'openid admin:read' }),
    expected: forbid('admin', 'missing_scope'),
  },
  {
    name: 'admin scope from scp array',
    path: '/admin/users',
    identity: user({ ...admin.claims, scope: undefined, scp: ['admin:write'] }),
    expected: allow('admin'),
  },
  {
    name: 'email_verified "true" is not true',
    path: '/admin/users',
    identity: user({ ...admin.claims, email_verified: 'true' }),
    expected: forbid('admin', 'claim_mismatch'),
  },
  {
    name: 'groups without staff',
    path: '/admin/users',
    identity: user({ ...admin.claims, groups: ['it'] }),
    expected: forbid('admin', 'claim_mismatch'),
  },
  {
    name: 'tier bronze',
    path: '/admin/users',
    identity: user({ ...admin.claims, tier: 'bronze' }),
    expected: forbid('admin', 'claim_mismatch'),
  },
  { name: 'admin without token', path: '/admin/users', expected: unauthenticated('admin') },
  { name: 'encoded admin path still hits admin', path: '/%61dmin/users', identity: plain, expected: forbid('admin', 'missing_scope') },
  {
    name: 'dot-segment detour still hits admin',
    path: '/docs/../admin/users',
    identity: plain,
    expected: forbid('admin', 'missing_scope'),
  },
  { name: 'double slash still hits admin', path: '//admin//users', identity: plain, expected: forbid('admin', 'missing_scope') },

  // reports: either an auditor user or the exporter workload
  { name: 'auditor user', path: '/reports/q1', identity: auditor, expected: allow('reports') },
  { name: 'exporter workload without a token', path: '/reports/q1', principal: EXPORTER, expected: allow('reports') },
  {
    name: 'neither auditor nor exporter',
    path: '/reports/q1',
    identity: plain,
    principal: GATEWAY,
    expected: forbid('reports', 'no_alternative_satisfied'),
  },
  { name: 'no token, no workload: a token could help', path: '/reports/q1', expected: unauthenticated('reports') },

  // header-conditioned rule and namespaced claim with dots in its name
  {
    name: 'beta tenant with the flag claim',
    path: '/beta/x',
    headers: { 'x-tenant': 'a' },
    identity: user({ 'https://example.com/beta': true }),
    expected: allow('tenant-beta'),
  },
  {
    name: 'beta tenant without the flag',
    path: '/beta/x',
    headers: { 'x-tenant': 'b' },
    identity: plain,
    expected: forbid('tenant-beta', 'claim_mismatch'),
  },
  {
    name: 'other tenant matches no rule',
    path: '/beta/x',
    headers: { 'x-tenant': 'c' },
    identity: plain,
    expected: forbid(null, 'no_matching_rule'),
  },

  // profile and host-scoped rule
  { name: 'profile with any token', path: '/me', identity: plain, expected: allow('profile') },
  { name: 'profile without token', method: 'PATCH', path: '/me/settings', expected: unauthenticated('profile') },
  {
    name: 'metrics on an internal host',
    path: '/metrics',
    host: 'Node-1.Internal.Example.com:9090',
    principal: PROMETHEUS,
    expected: allow('internal-metrics'),
  },
  {
    name: 'metrics on the apex is not a subdomain',
    path: '/metrics',
    host: 'internal.example.com',
    principal: PROMETHEUS,
    expected: forbid(null, 'no_matching_rule'),
  },
  {
    // Envoy's wildcard domains never match an empty prefix: it routes ".internal.example.com" elsewhere.
    name: 'metrics on an empty label before the wildcard suffix is not a subdomain',
    path: '/metrics',
    host: '.internal.example.com',
    principal: PROMETHEUS,
    expected: forbid(null, 'no_matching_rule'),
  },

  // public catalog and the default
  { name: 'public catalog', path: '/catalog/courses?page=2', expected: allow('public-catalog') },
  { name: 'unknown path is denied by default', path: '/internal/secrets', identity: admin, expected: forbid(null, 'no_matching_rule') },
  { name: 'path escaping the root', path: '/../etc/passwd', expected: forbid(null, 'invalid_path') },
];

describe('ed-tech policy', () => {
  const policy = edtechPolicy();
  it.each(cases)('$name', (c) => {
    const decision = policy.authorize(
      request(c.method ?? 'GET', c.path, {
        ...(c.host !== undefined && { host: c.host }),
        ...(c.principal !== undefined && { principal: c.principal }),
        headers: new Map(Object.entries(c.headers ?? {})),
      }),
      c.identity ?? null,
    );
    // Exactly these fields: no dryRun, no explanation unless asked.
    expect(decision).toEqual(c.expected);
  });

  it('covers every rule with an allow and a deny', () => {
    const allowed = new Set(cases.filter((c) => c.expected.allowed).map((c) => c.expected.ruleId));
    const denied = new Set(cases.filter((c) => !c.expected.allowed).map((c) => c.expected.ruleId));
    for (const id of [
      'course-grades-read',
      'course-grades-write',
      'course-material',
      'payments',
      'payments-webhook',
      'admin',
      'reports',
      'tenant-beta',
      'profile',
    ]) {
      expect(allowed, id).toContain(id);
      expect(denied, id).toContain(id);
    }
  });

  it('never echoes claim values in a denial', () => {
    const secret = user({ roles: { course: { teacher: ['secret-course-777'] } }, email: 'alice@example.com' });
    const decision = policy.authorize(request('GET', '/courses/1/grades'), secret);
    expect(JSON.stringify(decision)).not.toMatch(/secret-course-777|alice/);
  });
});

describe('explain mode', () => {
  const policy = edtechPolicy();

  it('says which rules were skipped, which matched, and why it denied', () => {
    const decision = policy.authorize(request('GET', '/courses/999/grades'), teacher, { explain: true });
    expect(decision.reason).toBe('context_role_mismatch');
    expect(decision.explanation).toEqual([
      'request: GET api.example.com /courses/999/grades',
      "rule 'health' skipped: path /courses/999/grades matches none of /healthz",
      "rule 'docs' skipped: path /courses/999/grades matches none of /docs/**",
      "rule 'course-grades-read' matches (courseId=999)",
      'contextRole: the token has none of teacher, ta for course "999" (claim roles)',
    ]);
  });

  it('labels anyOf alternatives', () => {
    const decision = policy.authorize(request('GET', '/reports/q1', { principal: GATEWAY }), plain, { explain: true });
    expect(decision.explanation).toContain('anyOf[0]: roles (claim roles): the token has none of auditor');
    expect(decision.explanation).toContain(`anyOf[1]: peer: ${GATEWAY} is not an allowed workload`);
  });

  it('explains a rejected path and the default decision', () => {
    expect(policy.authorize(request('GET', '/a/%2e%2e/%2e%2e/x'), null, { explain: true }).explanation).toEqual([
      'path rejected before any rule: path escapes the root with ".."',
    ]);
    expect(policy.authorize(request('GET', '/nowhere'), null, { explain: true }).explanation?.at(-1)).toBe(
      'no rule matches; defaultDecision is deny',
    );
  });
});

describe('defaultDecision', () => {
  const rules = [{ id: 'admin', match: { paths: ['/admin/**'] }, require: { roles: { anyOf: ['admin'] } } }];

  it('allow lets unmatched requests through without a rule id', () => {
    const policy = compilePolicy(rules, { defaultDecision: 'allow' });
    expect(policy.authorize(request('GET', '/anything'), null)).toEqual({
      allowed: true,
      ruleId: null,
      reason: 'no_matching_rule',
      status: 'ok',
    });
    expect(policy.authorize(request('GET', '/admin'), null)).toMatchObject({ allowed: false, ruleId: 'admin', status: 'unauthenticated' });
  });

  it('allow does not relax path safety', () => {
    const policy = compilePolicy(rules, { defaultDecision: 'allow' });
    expect(policy.authorize(request('GET', '/x%2F..%2Fadmin'), null)).toEqual({
      allowed: false,
      ruleId: null,
      reason: 'invalid_path',
      status: 'permission_denied',
    });
  });
});

describe('dry run', () => {
  const rules = [
    { id: 'new-admin-rule', match: { paths: ['/admin/**'] }, require: { roles: { anyOf: ['admin'] } }, dryRun: true },
    {
      id: 'grades',
      match: { paths: ['/courses/{courseId}/grades'] },
      require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'] } },
    },
  ];

  it('a dry-run rule reports the would-deny and allows', () => {
    const policy = compilePolicy(rules, { defaultDecision: 'deny' });
    expect(policy.authorize(request('GET', '/admin/x'), plain)).toEqual({
      allowed: true,
      ruleId: 'new-admin-rule',
      reason: 'dry_run',
      status: 'ok',
      dryRun: { wouldDeny: true, reason: 'missing_role', status: 'permission_denied' },
    });
    expect(policy.authorize(request('GET', '/admin/x'), null).dryRun).toEqual({
      wouldDeny: true,
      reason: 'authentication_required',
      status: 'unauthenticated',
    });
  });

  it('a dry-run rule that allows is a plain allow', () => {
    const policy = compilePolicy(rules, { defaultDecision: 'deny' });
    expect(policy.authorize(request('GET', '/admin/x'), user({ roles: ['admin'] }))).toEqual(allow('new-admin-rule'));
  });

  it('other rules still enforce', () => {
    const policy = compilePolicy(rules, { defaultDecision: 'deny' });
    expect(policy.authorize(request('GET', '/courses/999/grades'), teacher)).toEqual(forbid('grades', 'context_role_mismatch'));
  });

  it('global dry run covers every rule and the default decision, not path safety', () => {
    const policy = compilePolicy(rules, { defaultDecision: 'deny', dryRun: true });
    expect(policy.authorize(request('GET', '/courses/999/grades'), teacher)).toMatchObject({
      allowed: true,
      ruleId: 'grades',
      reason: 'dry_run',
      dryRun: { wouldDeny: true, reason: 'context_role_mismatch', status: 'permission_denied' },
    });
    expect(policy.authorize(request('GET', '/elsewhere'), null)).toMatchObject({
      allowed: true,
      ruleId: null,
      dryRun: { wouldDeny: true, reason: 'no_matching_rule', status: 'permission_denied' },
    });
    expect(policy.authorize(request('GET', '/a\\b'), null)).toEqual(forbid(null, 'invalid_path'));
  });

  it('the ed-tech policy in global dry run keeps rule ids on would-denies', () => {
    const decision = edtechPolicy({ dryRun: true }).authorize(request('GET', '/courses/999/grades'), teacher, { explain: true });
    expect(decision).toMatchObject({ allowed: true, ruleId: 'course-grades-read', dryRun: { reason: 'context_role_mismatch' } });
    expect(decision.explanation?.at(-1)).toBe('dry run: would deny (context_role_mismatch), allowed');
  });
});

describe('many rules', () => {
  // 50 services, each with its own context; the first 25 also have a public status page.
  const rules = Array.from({ length: 50 }, (_, i) => [
    ...(i < 25
      ? [{ id: `svc${i}-status`, match: { methods: ['GET'], paths: [`/svc${i}/status`] }, require: { anonymous: true as const } }]
      : []),
    {
      id: `svc${i}-items`,
      match: { paths: [`/svc${i}/{tenant}/items/**`, `/svc${i}/{tenant}/items`] },
      require: { contextRole: { context: `svc${i}`, id: '{tenant}', anyOf: ['member'] } },
    },
  ]).flat();
  const policy = compilePolicy(rules, { defaultDecision: 'deny' });

  it('compiles 75 rules and picks the right one for every service', () => {
    expect(rules).toHaveLength(75);
    for (let i = 0; i < 50; i++) {
      const member = user({ roles: { [`svc${i}`]: { member: [`t${i}`] } } });
      expect(policy.authorize(request('GET', `/svc${i}/t${i}/items/a/b`), member)).toEqual(allow(`svc${i}-items`));
      expect(policy.authorize(request('POST', `/svc${i}/t${i}/items`), member)).toEqual(allow(`svc${i}-items`));
      // The same tenant id in a neighbour's context must not open this service.
      const neighbour = user({ roles: { [`svc${(i + 1) % 50}`]: { member: [`t${i}`] } } });
      expect(policy.authorize(request('GET', `/svc${i}/t${i}/items`), neighbour)).toEqual(forbid(`svc${i}-items`, 'context_role_mismatch'));
      expect(policy.authorize(request('GET', `/svc${i}/status`), null)).toEqual(
        i < 25 ? allow(`svc${i}-status`) : forbid(null, 'no_matching_rule'),
      );
    }
    expect(policy.authorize(request('GET', '/svc50/t1/items'), null)).toEqual(forbid(null, 'no_matching_rule'));
  });

  it('rules with the same require (compiled once for all of them) each read their own path and parameters', () => {
    const same = { contextRole: { context: 'course', id: 'c-{id}', anyOf: ['teacher'] } };
    const shared = compilePolicy(
      rulesSchema.parse([
        { id: 'grades', match: { paths: ['/grades/{id}'] }, require: same },
        { id: 'exams', match: { methods: ['POST'], paths: ['/exams/{x}/{id}'] }, require: same },
        // Same text under another key order: a separate compile, the same answers.
        {
          id: 'notes',
          match: { paths: ['/notes/{id}'] },
          require: { contextRole: { anyOf: ['teacher'], id: 'c-{id}', context: 'course' } },
        },
      ]),
      { defaultDecision: 'deny' },
    );
    const of7 = user({ roles: { course: { teacher: ['c-7'] } } });
    expect(shared.authorize(request('GET', '/grades/7'), of7)).toEqual(allow('grades'));
    expect(shared.authorize(request('GET', '/grades/8'), of7)).toEqual(forbid('grades', 'context_role_mismatch'));
    expect(shared.authorize(request('POST', '/exams/8/7'), of7)).toEqual(allow('exams'));
    expect(shared.authorize(request('POST', '/exams/7/8'), of7)).toEqual(forbid('exams', 'context_role_mismatch'));
    expect(shared.authorize(request('GET', '/exams/8/7'), of7)).toEqual(forbid(null, 'no_matching_rule'));
    expect(shared.authorize(request('GET', '/notes/7'), of7)).toEqual(allow('notes'));
    expect(shared.authorize(request('GET', '/notes/8'), of7)).toEqual(forbid('notes', 'context_role_mismatch'));
    const explained = shared.authorize(request('POST', '/exams/8/7'), of7, { explain: true }).explanation ?? [];
    expect(explained).toContain("rule 'exams' matches (x=8, id=7)");
    expect(explained).toContain('contextRole: the token has role teacher for course "c-7"');
  });
});

describe('match and claim details', () => {
  const anon = { anonymous: true as const };
  const policy = compilePolicy(
    [
      { id: 'canary', match: { paths: ['/api/**'], headers: [{ name: 'X-Canary', present: true }] }, require: anon },
      {
        id: 'no-debug',
        match: {
          paths: ['/api/**'],
          headers: [
            { name: 'x-debug', present: false },
            { name: 'x-env', oneOf: ['prod', 'stage'] },
          ],
        },
        require: anon,
      },
      { id: 'v6', match: { hosts: ['[::1]', 'Example.COM.'], paths: ['/local'] }, require: anon },
      {
        id: 'contains',
        match: { paths: ['/groups'] },
        require: {
          claims: [
            { path: 'groups', contains: 'staff' },
            { path: 'level', oneOf: [1, 2] },
          ],
        },
      },
      { id: 'dotted', match: { paths: ['/dotted'] }, require: { roles: { claim: 'https://example.com/roles', anyOf: ['x'] } } },
      { id: 'nested', match: { paths: ['/nested'] }, require: { roles: { claim: 'resource_access.app.roles', allOf: ['a', 'b'] } } },
      { id: 'tenant', match: { paths: ['/tenant'], headers: [{ name: 'X-Tenant', equals: 'a' }] }, require: anon },
      { id: 'write', match: { methods: ['POST', 'PUT'], paths: ['/post', '/put'] }, require: anon },
      { id: 'short-labels', match: { hosts: ['x.y.example.com'] }, require: anon },
    ],
    { defaultDecision: 'deny' },
  );
  const ruleFor = (extra: Partial<Parameters<typeof request>[2]>, path = '/api/x', method = 'GET') =>
    policy.authorize(request(method, path, extra), null).ruleId;
  const explain = (method: string, path: string, extra: Partial<Parameters<typeof request>[2]> = {}) =>
    policy.authorize(request(method, path, extra), null, { explain: true }).explanation;

  it('header conditions: present, absent, oneOf', () => {
    expect(ruleFor({ headers: new Map([['x-canary', '']]) })).toBe('canary');
    expect(ruleFor({ headers: new Map([['x-env', 'prod']]) })).toBe('no-debug');
    expect(
      ruleFor({
        headers: new Map([
          ['x-env', 'prod'],
          ['x-debug', '1'],
        ]),
      }),
    ).toBeNull();
    expect(ruleFor({ headers: new Map([['x-env', 'PROD']]) })).toBeNull();
  });

  it('hosts: IPv6 literal with port, trailing dot, case', () => {
    expect(ruleFor({ host: '[::1]:8080' }, '/local')).toBe('v6');
    expect(ruleFor({ host: 'EXAMPLE.com.:443' }, '/local')).toBe('v6');
    expect(ruleFor({ host: 'www.example.com' }, '/local')).toBeNull();
    // An unclosed "[" is no IPv6 literal: the host is kept as sent, not cut to nothing.
    expect(explain('GET', '/local', { host: '[::1' })).toContain(`rule 'v6' skipped: host "[::1" is not one of [::1], Example.COM.`);
  });

  it('a rule without paths matches every path; one-letter labels are host names', () => {
    expect(ruleFor({ host: 'x.y.example.com' }, '/')).toBe('short-labels');
    expect(ruleFor({ host: 'x.y.example.com' }, '/any/path')).toBe('short-labels');
    expect(ruleFor({ host: 'y.example.com' }, '/any/path')).toBeNull();
  });

  it('only GET implies HEAD', () => {
    expect(ruleFor({}, '/post', 'POST')).toBe('write');
    expect(ruleFor({}, '/put', 'PUT')).toBe('write');
    expect(ruleFor({}, '/post', 'HEAD')).toBeNull();
  });

  it('explains why each rule was skipped: method, host, each kind of header condition, paths', () => {
    expect(explain('GET', '/nowhere')).toEqual([
      'request: GET api.example.com /nowhere',
      `rule 'canary' skipped: header condition "x-canary is present" does not hold`,
      `rule 'no-debug' skipped: header condition "x-env is one of prod, stage" does not hold`,
      `rule 'v6' skipped: host "api.example.com" is not one of [::1], Example.COM.`,
      "rule 'contains' skipped: path /nowhere matches none of /groups",
      "rule 'dotted' skipped: path /nowhere matches none of /dotted",
      "rule 'nested' skipped: path /nowhere matches none of /nested",
      `rule 'tenant' skipped: header condition "x-tenant equals "a"" does not hold`,
      "rule 'write' skipped: method GET is not one of POST, PUT",
      `rule 'short-labels' skipped: host "api.example.com" is not one of x.y.example.com`,
      'no rule matches; defaultDecision is deny',
    ]);
    const explanation = explain('POST', '/nowhere', { headers: new Map([['x-debug', '1']]) });
    expect(explanation).toContain(`rule 'no-debug' skipped: header condition "x-debug is absent" does not hold`);
    expect(explanation).toContain("rule 'write' skipped: path /nowhere matches none of /post, /put");
  });

  it('contains accepts an array or a single equal value; oneOf compares types exactly', () => {
    const decide = (claims: Record<string, unknown>) => policy.authorize(request('GET', '/groups'), { provider: 'idp', claims }).reason;
    expect(decide({ groups: ['it', 'staff'], level: 1 })).toBe('allowed');
    expect(decide({ groups: 'staff', level: 2 })).toBe('allowed');
    expect(decide({ groups: 'staff-x', level: 1 })).toBe('claim_mismatch');
    expect(decide({ groups: ['staff'], level: '1' })).toBe('claim_mismatch');
  });

  it('claim paths: dotted top-level names first, then nesting; allOf needs every role', () => {
    const decide = (path: string, claims: Record<string, unknown>) =>
      policy.authorize(request('GET', path), { provider: 'idp', claims }).reason;
    expect(decide('/dotted', { 'https://example.com/roles': ['x'] })).toBe('allowed');
    expect(decide('/nested', { resource_access: { app: { roles: ['a', 'b'] } } })).toBe('allowed');
    expect(decide('/nested', { resource_access: { app: { roles: ['a'] } } })).toBe('missing_role');
    expect(decide('/nested', { 'resource_access.app.roles': ['a', 'b'] })).toBe('allowed');
    // Prototype properties are not claims.
    expect(decide('/nested', { resource_access: { app: {} }, constructor: { roles: ['a', 'b'] } })).toBe('missing_role');
  });
});

describe('internalToken', () => {
  const rules = rulesSchema.parse([
    {
      id: 'svc',
      match: { paths: ['/svc/{id}'] },
      require: { anonymous: true },
      internalToken: { audience: 'svc-{id}.{host}' },
    },
  ]);

  it('binds the audience to the path parameters and host, and is no exchange unless it says so', () => {
    const decision = compilePolicy(rules, { defaultDecision: 'deny' }).authorize(request('GET', '/svc/42'), null);
    expect(decision).toMatchObject({ allowed: true, internalToken: { audience: 'svc-42.api.example.com', exchange: false } });
  });

  it('names internalToken.audience when its template uses a parameter no path binds', () => {
    const unbound = [{ ...rules[0]!, internalToken: { audience: 'svc-{nope}' } }];
    expect(() => compilePolicy(unbound, { defaultDecision: 'deny' })).toThrow(/^rule 'svc': internalToken\.audience: /);
  });
});

describe('requirements in detail', () => {
  const compile = (rules: unknown[], options: { defaultDecision?: 'deny' | 'allow' } = {}) =>
    compilePolicy(rulesSchema.parse(rules), { defaultDecision: options.defaultDecision ?? 'deny' });
  const answers = (roles: readonly string[] | null): ContextAnswers => ({ get: () => roles });

  it('still needs one anyOf alternative when the requirements beside it hold', () => {
    const p = compile([
      {
        id: 'r',
        match: { paths: ['/x'] },
        require: { authenticated: true, anyOf: [{ scopes: { anyOf: ['a'] } }, { scopes: { anyOf: ['b'] } }] },
      },
    ]);
    expect(p.authorize(request('GET', '/x'), user({ scope: 'c' }))).toEqual(forbid('r', 'missing_scope'));
    expect(p.authorize(request('GET', '/x'), user({ scope: 'c b' }))).toEqual(allow('r'));
  });

  it('needs the requirements beside anyOf too, before any alternative: an alternative never stands in for them', () => {
    const p = compile([
      {
        id: 'r',
        match: { paths: ['/x'] },
        require: { scopes: { allOf: ['reports:read'] }, anyOf: [{ roles: { anyOf: ['auditor'] } }, { scopes: { anyOf: ['ops'] } }] },
      },
    ]);
    // The alternative holds, the scope beside anyOf does not: denied for the scope, the alternatives not asked.
    const decision = p.authorize(request('GET', '/x'), user({ roles: ['auditor'] }), { explain: true });
    expect(decision).toMatchObject(forbid('r', 'missing_scope'));
    expect(decision.explanation?.some((line) => line.startsWith('anyOf['))).toBe(false);
    expect(p.authorize(request('GET', '/x'), null)).toMatchObject({ reason: 'authentication_required' });
    expect(p.authorize(request('GET', '/x'), user({ roles: ['auditor'], scope: 'reports:read' }))).toEqual(allow('r'));
    expect(p.authorize(request('GET', '/x'), user({ scope: 'reports:read' }))).toEqual(forbid('r', 'no_alternative_satisfied'));
  });

  it('anyOf of scopes needs one of them, allOf every one; entries that are not strings are ignored', () => {
    const p = compile([{ id: 'r', match: { paths: ['/x'] }, require: { scopes: { anyOf: ['a', 'b'] } } }]);
    expect(p.authorize(request('GET', '/x'), user({ scp: [7, 'b'] }))).toEqual(allow('r'));
    expect(p.authorize(request('GET', '/x'), user({ scp: [7, {}] }))).toEqual(forbid('r', 'missing_scope'));
  });

  it('matches a numeric id only as a safe integer, never a fraction or an imprecise number', () => {
    const p = compile([
      { id: 'r', match: { paths: ['/courses/{id}/**'] }, require: { contextRole: { context: 'course', id: '{id}', anyOf: ['teacher'] } } },
    ]);
    const holding = (ids: unknown[]) => user({ roles: { course: { teacher: ids } } });
    expect(p.authorize(request('GET', '/courses/7'), holding([7]))).toEqual(allow('r'));
    expect(p.authorize(request('GET', '/courses/1.5'), holding([1.5]))).toEqual(forbid('r', 'context_role_mismatch'));
    // 2^53 + 1 reads back as 2^53: the token's number cannot say which id it meant.
    expect(p.authorize(request('GET', '/courses/9007199254740992'), holding([2 ** 53]))).toEqual(forbid('r', 'context_role_mismatch'));
  });

  it('resolves an id template that starts with a parameter and goes on: the whole text, not the parameter alone', () => {
    const p = compile([
      {
        id: 'r',
        match: { paths: ['/courses/{id}/**'] },
        require: { contextRole: { context: 'course', id: '{id}-2026', anyOf: ['teacher'] } },
      },
    ]);
    const holding = (ids: unknown[]) => user({ roles: { course: { teacher: ids } } });
    expect(p.authorize(request('GET', '/courses/c1/x'), holding(['c1-2026']))).toEqual(allow('r'));
    expect(p.authorize(request('GET', '/courses/c1/x'), holding(['c1']))).toEqual(forbid('r', 'context_role_mismatch'));
  });

  it('explains a oneOf and a contains claim condition with the values they compare with', () => {
    const p = compile([
      { id: 'one', match: { paths: ['/one'] }, require: { claims: [{ path: 'tier', oneOf: ['gold', 1, true] }] } },
      { id: 'has', match: { paths: ['/has'] }, require: { claims: [{ path: 'groups', contains: 'staff' }] } },
    ]);
    const explained = (path: string, identity: Identity) =>
      p.authorize(request('GET', path), identity, { explain: true }).explanation?.filter((l) => l.startsWith('claim '));
    expect(explained('/one', user({ tier: 1 }))).toEqual(['claim tier: is one of "gold", 1, true']);
    expect(explained('/one', user({ tier: 'tin' }))).toEqual(['claim tier: is not one of "gold", 1, true']);
    expect(explained('/has', user({ groups: ['it', 'staff'] }))).toEqual(['claim groups: contains "staff"']);
    expect(explained('/has', user({ groups: ['it'] }))).toEqual(['claim groups: does not contain "staff"']);
  });

  it('opens a route with anonymous beside keys that are there but undefined (a rule built in code)', () => {
    const p = compile([{ id: 'r', match: { paths: ['/x'] }, require: { anonymous: true, peer: undefined, when: undefined } }]);
    expect(p.authorize(request('GET', '/x'), null)).toEqual(allow('r'));
  });

  describe('a contextRole with a fallback source', () => {
    const p = compile([
      {
        id: 'r',
        match: { paths: ['/courses/{id}/**'] },
        require: {
          anyOf: [{ contextRole: { context: 'course', id: '{id}', anyOf: ['teacher'], fallback: 'lms' } }, { scopes: { anyOf: ['ops'] } }],
        },
      },
      {
        id: 's',
        match: { paths: ['/single/{id}'] },
        require: { contextRole: { context: 'course', id: '{id}', anyOf: ['teacher'], fallback: 'lms' } },
      },
    ]);

    it('asks the source, and denies as context_source_unavailable until it answers', () => {
      const decision = p.authorize(request('GET', '/single/5'), user({}));
      expect(decision).toEqual({
        ...forbid('s', 'context_source_unavailable'),
        pending: [{ source: 'lms', provider: 'idp', sub: 'u1', context: 'course', id: '5' }],
      });
      expect(p.authorize(request('GET', '/single/5'), user({}), { contextAnswers: answers(null) })).toEqual(
        forbid('s', 'context_source_unavailable'),
      );
    });

    it('asks nothing for a token without a sub, or with an empty one: a mismatch', () => {
      for (const claims of [{ sub: undefined }, { sub: '' }, { sub: 5 }]) {
        const decision = p.authorize(request('GET', '/single/5'), { provider: 'idp', claims }, { explain: true });
        expect(decision).toMatchObject(forbid('s', 'context_role_mismatch'));
        expect(decision.pending).toBeUndefined();
        expect(decision.explanation?.at(-1)).toBe('contextRole: the token has no sub to ask lms about');
        expect(p.authorize(request('GET', '/single/5'), { provider: 'idp', claims })).toEqual(forbid('s', 'context_role_mismatch'));
      }
    });

    it('asks per object: a token listing other ids of the context still gets the source asked for this one', () => {
      const recent = user({ roles: { course: { teacher: ['123'] } } });
      expect(p.authorize(request('GET', '/single/42'), recent)).toEqual({
        ...forbid('s', 'context_source_unavailable'),
        pending: [{ source: 'lms', provider: 'idp', sub: 'u1', context: 'course', id: '42' }],
      });
      expect(p.authorize(request('GET', '/single/42'), recent, { contextAnswers: answers(['teacher']) })).toStrictEqual({
        ...allow('s'),
        granted: [{ claim: 'roles', context: 'course', id: '42', roles: ['teacher'] }],
      });
    });

    it('decides by the token alone when it lists this id, even with a role the rule does not accept', () => {
      const asked = answers(['teacher']);
      expect(
        p.authorize(request('GET', '/single/123'), user({ roles: { course: { teacher: ['123'] } } }), { contextAnswers: asked }),
      ).toStrictEqual(allow('s'));
      const student = p.authorize(request('GET', '/single/123'), user({ roles: { course: { student: ['123'] } } }), {
        contextAnswers: asked,
      });
      expect(student).toEqual(forbid('s', 'context_role_mismatch'));
    });

    it('keeps no grant from an alternative that failed', () => {
      const decision = p.authorize(request('GET', '/courses/5/x'), user({ scope: 'ops' }), { contextAnswers: answers(['student']) });
      expect(decision).toStrictEqual(allow('r'));
      expect(p.authorize(request('GET', '/courses/5/x'), user({}), { contextAnswers: answers(['teacher']) })).toStrictEqual({
        ...allow('r'),
        granted: [{ claim: 'roles', context: 'course', id: '5', roles: ['teacher'] }],
      });
    });
  });

  it.each([
    [{ scopes: {} }, ['require', 'scopes'], 'give allOf and/or anyOf, e.g. scopes: { anyOf: [courses:read] }'],
    [{ roles: {} }, ['require', 'roles'], 'give allOf and/or anyOf, e.g. roles: { anyOf: [admin] }'],
    [
      { anonymous: true, authenticated: true, anyOf: [{ authenticated: true }, { scopes: { anyOf: ['a'] } }] },
      ['require', 'anonymous'],
      'anonymous: true opens the route and cannot be combined with authenticated, anyOf; remove anonymous, or the other keys',
    ],
    [{ actor: { principals: ['ok', '*'] } }, ['require', 'actor', 'principals', 1], '"*" would match any workload'],
    [{ claims: [{ path: 'a..b', equals: 1 }] }, ['require', 'claims', 0, 'path'], 'claim path "a..b" has an empty part'],
    [{ roles: { claim: 'a..b', anyOf: ['x'] } }, ['require', 'roles', 'claim'], 'claim path "a..b" has an empty part'],
    [
      { contextRole: { claim: 'a..b', context: 'c', id: '1', anyOf: ['x'] } },
      ['require', 'contextRole', 'claim'],
      'claim path "a..b" has an empty part',
    ],
    [{ contextRole: { context: 'c', id: '{a}}', anyOf: ['x'] } }, ['require', 'contextRole', 'id'], 'has an unbalanced brace'],
  ])('refuses require %j at %j', (require, path, message) => {
    const result = rulesSchema.safeParse([{ id: 'r', match: { paths: ['/x/{a}'] }, require }]);
    expect(result.success).toBe(false);
    const issue = result.error?.issues[0];
    expect(issue?.path).toEqual([0, ...path]);
    expect(issue?.message).toContain(message);
  });
});

describe('actor', () => {
  const p = compilePolicy(
    rulesSchema.parse([
      { id: 'a', match: { paths: ['/a'] }, require: { actor: { principals: ['spiffe://c/ns/edge/*'], maxChainDepth: 2 } } },
    ]),
    { defaultDecision: 'deny' },
  );
  const acting = (act: unknown) => p.authorize(request('GET', '/a'), user({ act }), { explain: true });

  it.each([
    [
      { sub: 'spiffe://c/ns/orders/sa/o', act: { sub: 'spiffe://c/ns/edge/sa/gw' } },
      'allowed',
      'actor: spiffe://c/ns/edge/sa/gw is in the act chain',
    ],
    [undefined, 'actor_not_allowed', 'actor: the token has no act claim'],
    [
      { sub: 'spiffe://c/ns/a/sa/1', act: { sub: 'spiffe://c/ns/b/sa/2' } },
      'actor_not_allowed',
      'actor: none of spiffe://c/ns/a/sa/1 → spiffe://c/ns/b/sa/2 is an allowed actor',
    ],
    [{ sub: 5 }, 'actor_not_allowed', 'actor: the act claim is malformed'],
    [
      { sub: 'x', act: { sub: 'y', act: { sub: 'spiffe://c/ns/edge/sa/gw' } } },
      'actor_chain_too_long',
      'actor: the act chain is longer than 2',
    ],
  ])('act %j: %s', (act, reason, sentence) => {
    const decision = acting(act);
    expect(decision.reason).toBe(reason);
    expect(decision.status).toBe(reason === 'allowed' ? 'ok' : 'permission_denied');
    expect(decision.explanation?.at(-1 - Number(reason === 'allowed'))).toBe(sentence);
  });
});

describe('explain mode, sentence by sentence', () => {
  const p = compilePolicy(
    rulesSchema.parse([
      { id: 'open', match: { paths: ['/open'] }, require: { anonymous: true } },
      { id: 'auth', match: { paths: ['/auth'] }, require: { authenticated: true } },
      { id: 'two', match: { paths: ['/t/{a}/{b}'] }, require: { providers: ['idp'], scopes: { allOf: ['s1', 's2'] } }, dryRun: true },
      { id: 'claim', match: { paths: ['/claim'] }, require: { claims: [{ path: 'tier', equals: 'gold' }] } },
      { id: 'peer', match: { paths: ['/peer'] }, require: { peer: { principals: ['spiffe://c/ns/edge/*'] } } },
      {
        id: 'ctx',
        match: { paths: ['/c/{id}'] },
        require: { contextRole: { context: 'course', id: '{id}', anyOf: ['ta'], fallback: 'lms' } },
      },
      { id: 'roll', match: { paths: ['/roll'] }, require: { authenticated: true }, rollout: { enforcePercent: 50 } },
    ]),
    { defaultDecision: 'allow' },
  );
  const explain = (
    path: string,
    identity: Identity | null,
    extra: Parameters<Policy['authorize']>[2] = {},
    req: Partial<AuthzRequest> = {},
  ) => p.authorize(request('GET', path, req), identity, { explain: true, ...extra }).explanation?.filter((l) => !l.includes('skipped'));
  const answering = (roles: readonly string[] | null): ContextAnswers => ({ get: () => roles });
  const viewAsStudent = { role: 'student', allows: (held: string) => held === 'ta' };

  it.each([
    [
      '/open',
      null,
      {},
      {},
      ['request: GET api.example.com /open', "rule 'open' matches", 'anonymous: no identity required', "allowed by rule 'open'"],
    ],
    [
      '/open',
      null,
      {},
      { host: '' },
      ['request: GET (no host) /open', "rule 'open' matches", 'anonymous: no identity required', "allowed by rule 'open'"],
    ],
    [
      '/auth',
      null,
      {},
      {},
      ['request: GET api.example.com /auth', "rule 'auth' matches", 'a verified token is required and none was presented'],
    ],
    [
      '/auth',
      user({}),
      {},
      {},
      ['request: GET api.example.com /auth', "rule 'auth' matches", 'authenticated: token from idp', "allowed by rule 'auth'"],
    ],
    [
      '/t/1/2',
      user({ scope: 's1' }),
      {},
      {},
      [
        'request: GET api.example.com /t/1/2',
        "rule 'two' matches (a=1, b=2) [dry run]",
        'providers: token from idp is accepted',
        'scopes: the token lacks at least one of s1, s2 (all required)',
        'dry run: would deny (missing_scope), allowed',
      ],
    ],
    [
      '/t/1/2',
      user({ scope: 's1 s2' }, 'other'),
      {},
      {},
      [
        'request: GET api.example.com /t/1/2',
        "rule 'two' matches (a=1, b=2) [dry run]",
        "providers: the token's provider is not one of idp",
        'dry run: would deny (provider_not_allowed), allowed',
      ],
    ],
    [
      '/t/1/2',
      user({ scope: 's1 s2' }),
      {},
      {},
      [
        'request: GET api.example.com /t/1/2',
        "rule 'two' matches (a=1, b=2) [dry run]",
        'providers: token from idp is accepted',
        'scopes: satisfied',
        "allowed by rule 'two'",
      ],
    ],
    [
      '/claim',
      user({ tier: 'gold' }),
      {},
      {},
      ['request: GET api.example.com /claim', "rule 'claim' matches", 'claim tier: equals "gold"', "allowed by rule 'claim'"],
    ],
    [
      '/claim',
      user({ tier: 'tin' }),
      {},
      {},
      ['request: GET api.example.com /claim', "rule 'claim' matches", 'claim tier: does not equal "gold"'],
    ],
    ['/peer', null, {}, {}, ['request: GET api.example.com /peer', "rule 'peer' matches", 'peer: no workload identity was presented']],
    [
      '/peer',
      null,
      {},
      { principal: 'spiffe://c/ns/x/sa/y' },
      ['request: GET api.example.com /peer', "rule 'peer' matches", 'peer: spiffe://c/ns/x/sa/y is not an allowed workload'],
    ],
    [
      '/peer',
      null,
      { viewAs: viewAsStudent },
      { principal: 'spiffe://c/ns/edge/sa/y' },
      [
        'request: GET api.example.com /peer',
        "rule 'peer' matches",
        'peer: spiffe://c/ns/edge/sa/y is allowed',
        "viewAs: rule 'peer' decides no context role, so there is nothing to view as",
      ],
    ],
    [
      '/c/9',
      user({}),
      {},
      {},
      [
        'request: GET api.example.com /c/9',
        "rule 'ctx' matches (id=9)",
        'contextRole: the token grants no role for course "9"; asking lms',
        'contextRole: lms must be asked',
      ],
    ],
    [
      '/c/9',
      user({}),
      { contextAnswers: answering(null) },
      {},
      [
        'request: GET api.example.com /c/9',
        "rule 'ctx' matches (id=9)",
        'contextRole: the token grants no role for course "9"; asking lms',
        'contextRole: lms did not answer (failed or timed out)',
      ],
    ],
    [
      '/c/9',
      user({}),
      { contextAnswers: answering(['ta']) },
      {},
      [
        'request: GET api.example.com /c/9',
        "rule 'ctx' matches (id=9)",
        'contextRole: the token grants no role for course "9"; asking lms',
        'contextRole: lms gives role ta for course "9"',
        "allowed by rule 'ctx'",
      ],
    ],
    [
      '/c/9',
      user({}),
      { contextAnswers: answering(['student']) },
      {},
      [
        'request: GET api.example.com /c/9',
        "rule 'ctx' matches (id=9)",
        'contextRole: the token grants no role for course "9"; asking lms',
        'contextRole: lms gives none of ta for course "9"',
      ],
    ],
    [
      '/c/9',
      user({ roles: { course: { ta: ['9'] } } }),
      { viewAs: { role: 'ta', allows: () => false } },
      {},
      [
        'request: GET api.example.com /c/9',
        "rule 'ctx' matches (id=9)",
        'contextRole: the token grants roles for course "9"; lms not asked',
        'viewAs: no role the token gives for course "9" may view as ta',
      ],
    ],
    [
      '/c/9',
      user({ roles: { course: { ta: ['9'] } } }),
      { viewAs: { role: 'ta', allows: (held: string) => held === 'ta' } },
      {},
      [
        'request: GET api.example.com /c/9',
        "rule 'ctx' matches (id=9)",
        'contextRole: the token grants roles for course "9"; lms not asked',
        'viewAs: decided as ta for course "9"',
        'contextRole: the token has role ta for course "9"',
        "allowed by rule 'ctx'",
      ],
    ],
    [
      '/roll',
      null,
      {},
      {},
      [
        'request: GET api.example.com /roll',
        "rule 'roll' matches",
        'a verified token is required and none was presented',
        'rollout: enforced for 50% of subjects; no subject is in the enforced arm',
      ],
    ],
    ['/nowhere', null, {}, {}, ['request: GET api.example.com /nowhere', 'no rule matches; defaultDecision is allow']],
  ] as const)('%s', (path, identity, extra, req, lines) => {
    expect(explain(path, identity, extra, req)).toEqual(lines);
  });

  it('adds no rollout to a decision whose rule has none', () => {
    expect(p.authorize(request('GET', '/auth'), user({}))).toStrictEqual(allow('auth'));
  });
});
