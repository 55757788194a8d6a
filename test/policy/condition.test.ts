import { describe, expect, it } from 'vitest';
import { compilePolicy, rulesSchema, type AuthzRequest, type Decision, type Identity } from '../../src/policy/index.js';
import { compileCondition } from '../../src/policy/condition.js';
import { request } from './helpers.js';

const user = (claims: Record<string, unknown>, provider = 'idp'): Identity => ({ provider, claims: { sub: 'u1', ...claims } });

/** One rule `r` on `/users/{userId}/**` and `/t/{tenantId}/**` paths, requiring `when` (and `extra`). */
function policyWith(when: string, extra: Record<string, unknown> = {}, paths = ['/users/{userId}/**']) {
  return compilePolicy(rulesSchema.parse([{ id: 'r', match: { paths }, require: { when, ...extra } }]), { defaultDecision: 'deny' });
}

function decide(when: string, identity: Identity | null, req: Partial<AuthzRequest> & { path?: string } = {}, paths?: string[]): Decision {
  const { path = '/users/u1/profile', method = 'GET', ...rest } = req;
  return policyWith(when, {}, paths).authorize(request(method, path, rest), identity);
}

const holds = (when: string, identity: Identity | null, req: Partial<AuthzRequest> = {}, paths?: string[]) =>
  decide(when, identity, req, paths).reason;

describe('require.when: variables', () => {
  it('params and claims: ownership', () => {
    expect(holds('claims.sub == params.userId', user({}))).toBe('allowed');
    expect(holds('claims.sub == params.userId', user({ sub: 'u2' }))).toBe('condition_not_met');
  });

  it('request.method is upper case', () => {
    expect(holds("request.method == 'POST'", null, { method: 'post' })).toBe('allowed');
    expect(holds("request.method == 'post'", null, { method: 'post' })).toBe('condition_not_met');
  });

  it('request.path is the normalised path without query', () => {
    expect(holds("request.path == '/users/u1/profile'", null, { path: '/users/./u1//profile?x=1#f' })).toBe('allowed');
  });

  it('request.host is lower case without port', () => {
    expect(holds("request.host == 'api.example.com'", null, { host: 'API.Example.com:8443' })).toBe('allowed');
  });

  it('request.headers: lower-case names, only what the transport lets conditions see', () => {
    const headers = () => ({ 'x-tenant-id': 't1' });
    expect(holds("request.headers['x-tenant-id'] == 't1'", null, { conditionHeaders: headers })).toBe('allowed');
    // Without conditionHeaders (no transport said which headers are safe) a condition sees none.
    expect(holds("request.headers['x-tenant-id'] == 't1'", null, { headers: new Map([['x-tenant-id', 't1']]) })).toBe('condition_not_met');
  });

  it('request.query: the first value of each parameter, decoded', () => {
    expect(holds("request.query.view == 'full name'", null, { path: '/users/u1/x?view=full+name&view=other' })).toBe('allowed');
    expect(holds("request.query['__proto__'] == 'p'", null, { path: '/users/u1/x?__proto__=p' })).toBe('allowed');
    expect(holds('has(request.query.view)', null, { path: '/users/u1/x#view=1' })).toBe('condition_not_met');
  });

  it('request.query: empty without a query, and read up to the fragment', () => {
    expect(holds('size(request.query) == 0', null, { path: '/users/u1/x' })).toBe('allowed');
    expect(holds('size(request.query) == 0', null, { path: '/users/u1/x#top' })).toBe('allowed');
    expect(holds("request.query.view == 'a' && size(request.query) == 1", null, { path: '/users/u1/x?view=a#top' })).toBe('allowed');
  });

  it('token.provider, and {} claims without a token', () => {
    expect(holds("token.provider == 'idp'", user({}))).toBe('allowed');
    expect(holds("token.provider == ''", null)).toBe('allowed');
    expect(holds('size(claims) == 0', null)).toBe('allowed');
  });

  it('peer.principal, "" without one', () => {
    expect(holds("peer.principal == 'spiffe://c/ns/a/sa/b'", null, { principal: 'spiffe://c/ns/a/sa/b' })).toBe('allowed');
    expect(holds("peer.principal == ''", null)).toBe('allowed');
  });

  it('actors: the act chain nearest first, empty when malformed', () => {
    const act = { sub: 'spiffe://svc', act: { sub: 'spiffe://gw' } };
    expect(holds("actors == ['spiffe://svc', 'spiffe://gw']", user({ act }))).toBe('allowed');
    expect(holds('size(actors) == 0', user({ act: { sub: 5 } }))).toBe('allowed');
  });

  it('the worked examples: tenant isolation and method by role', () => {
    const tenant = "claims.tenant == params.tenantId && request.headers['x-tenant-id'] == claims.tenant";
    const paths = ['/t/{tenantId}/**'];
    const req = (header: string) => ({ path: '/t/acme/orders', conditionHeaders: () => ({ 'x-tenant-id': header }) });
    expect(holds(tenant, user({ tenant: 'acme' }), req('acme'), paths)).toBe('allowed');
    expect(holds(tenant, user({ tenant: 'acme' }), req('other'), paths)).toBe('condition_not_met');
    expect(holds(tenant, user({ tenant: 'other' }), req('other'), paths)).toBe('condition_not_met');

    const byRole = "request.method == 'GET' || 'admin' in claims.roles";
    expect(holds(byRole, user({ roles: ['reader'] }), { method: 'GET' })).toBe('allowed');
    expect(holds(byRole, user({ roles: ['reader'] }), { method: 'DELETE' })).toBe('condition_not_met');
    expect(holds(byRole, user({ roles: ['admin'] }), { method: 'DELETE' })).toBe('allowed');
  });
});

describe('require.when: never throws, never allows on a failure', () => {
  it.each([
    ['a missing claim', "claims.tenant == 'x'", user({})],
    ['a missing header', "request.headers['x-absent'] == 'x'", user({})],
    ['a type mismatch at run time', 'claims.sub > 3', user({})],
    ['a claim that is not a boolean', 'claims.flag', user({ flag: 'true' })],
    ['a claim that is null', 'claims.flag', user({ flag: null })],
    ['a division by zero', 'claims.n / 0 == 1', user({ n: 1 })],
    ['an index out of range', "actors[3] == 'x'", user({})],
  ])('%s: denied condition_not_met', (_name, when, identity) => {
    expect(decide(when, identity)).toEqual({ allowed: false, ruleId: 'r', reason: 'condition_not_met', status: 'permission_denied' });
  });

  it('a boolean claim decides as itself', () => {
    expect(holds('claims.flag', user({ flag: true }))).toBe('allowed');
  });
});

describe('require.when: evaluation order and combination', () => {
  it('runs after the other keys of its set hold: a missing token is 401, not a condition failure', () => {
    const p = policyWith('claims.sub == params.userId', { authenticated: true });
    expect(p.authorize(request('GET', '/users/u1/x'), null).reason).toBe('authentication_required');
    const roles = policyWith('claims.sub == params.userId', { roles: { anyOf: ['admin'] } });
    expect(roles.authorize(request('GET', '/users/u2/x'), user({ roles: [] })).reason).toBe('missing_role');
  });

  it('inside anyOf alternatives', () => {
    const p = compilePolicy(
      rulesSchema.parse([
        {
          id: 'r',
          match: { paths: ['/users/{userId}/**'] },
          require: { anyOf: [{ when: 'claims.sub == params.userId' }, { roles: { anyOf: ['admin'] } }] },
        },
      ]),
      { defaultDecision: 'deny' },
    );
    expect(p.authorize(request('GET', '/users/u1/x'), user({})).reason).toBe('allowed');
    expect(p.authorize(request('GET', '/users/u2/x'), user({ roles: ['admin'] })).reason).toBe('allowed');
    expect(p.authorize(request('GET', '/users/u2/x'), user({ roles: [] })).reason).toBe('no_alternative_satisfied');
  });

  it('explains the condition, the false clause of a top-level &&, and never a claim value', () => {
    const p = policyWith("claims.sub == params.userId && claims.tenant == 'acme' && request.method == 'GET'");
    const decision = p.authorize(request('GET', '/users/u1/x'), user({ tenant: 'secret-tenant' }), { explain: true });
    expect(decision.reason).toBe('condition_not_met');
    expect(decision.explanation?.at(-1)).toBe(
      "when: claims.sub == params.userId && claims.tenant == 'acme' && request.method == 'GET' is false (claims.tenant == 'acme' is false)",
    );
    expect(decision.explanation?.join('\n')).not.toContain('secret-tenant');
    // A condition that is not a top-level && has no clause to single out: the sentence names the whole.
    const single = policyWith("claims.tenant == 'acme'").authorize(request('GET', '/users/u1/x'), user({}), { explain: true });
    expect(single.reason).toBe('condition_not_met');
    expect(single.explanation?.at(-1)).toBe("when: claims.tenant == 'acme' is false");
    const allowed = p.authorize(request('GET', '/users/u1/x'), user({ tenant: 'acme' }), { explain: true });
    expect(allowed.explanation).toContain(
      "when: claims.sub == params.userId && claims.tenant == 'acme' && request.method == 'GET' is true",
    );
  });
});

describe('require.when: refused at load, naming the field', () => {
  const refused = (when: unknown, where: (string | number)[] = ['require', 'when']) => {
    const result = rulesSchema.safeParse([{ id: 'r', match: { paths: ['/users/{userId}'] }, require: { when } }]);
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path).toEqual([0, ...where]);
    return issue.message;
  };

  it.each([
    ['a syntax error', 'claims.sub ==', 'not a valid condition: Unexpected token'],
    ['an unknown variable', 'user.id == params.userId', 'not a valid condition: Unknown variable: user'],
    ['an unknown request member', "request.cookie == 'x'", 'not a valid condition: No such key: cookie'],
    ['a result known not to be boolean', "params.userId + 'x'", 'the condition evaluates to string, not bool'],
    ['a regular expression', "claims.sub.matches('^(a+)+$')", 'matches() is not available'],
    [
      'a nested comprehension',
      'actors.all(a, actors.exists(b, a == b))',
      'a comprehension (all, exists, exists_one, map, filter) inside another',
    ],
    ['an exists_one inside another', 'actors.exists_one(a, actors.exists_one(b, a == b))', 'a comprehension'],
    ['a map inside another', 'actors.map(a, actors.map(b, b)).size() > 0', 'a comprehension'],
    ['a filter inside another', 'actors.filter(a, actors.filter(b, a == b).size() > 0).size() > 0', 'a comprehension'],
    // The bounds on one evaluation's work, set tighter than the library's defaults (1000 elements, 100000 nodes).
    ['a list literal of 300 elements', `[${'1,'.repeat(299)}1].size() > 0`, 'Exceeded maxListElements (256)'],
    ['more than 512 nodes within the length limit', `${'1 + '.repeat(300)}1 > 0`, 'Exceeded maxAstNodes (512)'],
    ['an empty string', '', 'when must not be empty'],
    ['too long', `claims.sub == '${'a'.repeat(2048)}'`, 'when must be at most 2048 characters'],
    ['not a string', true, 'when must be a CEL expression in quotes'],
  ])('%s', (_name, when, message) => {
    expect(refused(when)).toContain(message);
  });

  it('inside an anyOf alternative, with its index', () => {
    const result = rulesSchema.safeParse([
      { id: 'r', match: { paths: ['/x'] }, require: { anyOf: [{ authenticated: true }, { when: 'nope == 1' }] } },
    ]);
    expect(result.error!.issues[0]!.path).toEqual([0, 'require', 'anyOf', 1, 'when']);
  });

  it('a single comprehension over a list is fine', () => {
    expect(holds("claims.groups.exists(g, g == 'staff')", user({ groups: ['it', 'staff'] }))).toBe('allowed');
  });

  it('a method call inside a comprehension is not a nested comprehension', () => {
    const act = { sub: 'spiffe://c/ns/a/sa/svc' };
    expect(holds("actors.exists(a, a.startsWith('spiffe://c/ns/a/'))", user({ act }))).toBe('allowed');
  });
});

describe('require.when: only what a condition reads is built', () => {
  const needs = (when: string) => compileCondition('r', ['require', 'when'], when).needs;

  it.each([
    ['claims.sub == params.userId', { headers: false, query: false, actors: false, params: true }],
    ["request.headers['x-tenant-id'] == claims.tenant", { headers: true, query: false, actors: false, params: false }],
    ["request['query']['view'] == 'full'", { headers: false, query: true, actors: false, params: false }],
    ["request.method == 'GET' && size(actors) > 0", { headers: false, query: false, actors: true, params: false }],
    // A computed field could name any of them: all are built.
    ["request[claims.field] == 'x'", { headers: true, query: true, actors: false, params: false }],
  ])('%s', (when, expected) => {
    expect(needs(when)).toEqual(expected);
  });

  it('a condition that reads no headers still decides the same (it is never handed them)', () => {
    const headers = () => ({ 'x-tenant-id': 't1' });
    expect(holds("request.method == 'GET'", null, { conditionHeaders: headers })).toBe('allowed');
    expect(holds("request.headers['x-tenant-id'] == 't1' && request.method == 'GET'", null, { conditionHeaders: headers })).toBe('allowed');
  });
});
