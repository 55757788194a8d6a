/**
 * One table of requests, driven through all five ways a proxy can ask tollgate: gRPC Check (Envoy's
 * ext_authz, over a real gRPC connection with Envoy's own protos) and the HTTP authorization port's
 * /envoy (http_service), /nginx (auth_request as examples/nginx sets it up), /ingress-nginx (its
 * auth-url location) and /traefik (forwardAuth). Every row must come out the same in all five:
 * decision, HTTP status, reason, challenge, denial body, identity headers; and the headers Envoy must
 * remove the same over gRPC and http_service. The one exception a row may name: a proxy that passes a
 * client's forged request-line header through to tollgate, where the request is refused
 * (`invalid_request_line`) instead of decided.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResponse } from '../../src/envoy/types.js';
import { askAuthz, type Dialect, type HttpAnswer, type OriginalRequest } from '../helpers/authz-http.js';
import { checkRequest } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { es256Provider, nowSeconds, type RunningTollgate, startTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'api';
const GATEWAY = 'spiffe://cluster.local/ns/edge/sa/gateway';
const TEACHER_OF_123 = { sub: 'alice', roles: { course: { teacher: ['123'] } } };

/** What every transport must agree on. */
interface Verdict {
  status: number;
  /** The denial's `reason` (its JSON body); undefined for an allow. */
  reason?: string;
  wwwAuthenticate?: string;
  /** Headers tollgate sets: identity headers upstream, refresh hints to the client. */
  set: Record<string, string>;
}

type TokenSpec = { claims?: Record<string, unknown>; audience?: string; ageSeconds?: number; ttlSeconds?: number };

interface Row {
  name: string;
  request: OriginalRequest;
  /** Minted at run time and sent as `Authorization: Bearer` (twice with `twice`), or as the session cookie. */
  token?: TokenSpec & { in?: 'header' | 'cookie'; twice?: boolean };
  expected: Verdict;
  /** Headers Envoy must strip upstream (gRPC headers_to_remove, http_service's x-envoy-auth-headers-to-remove). */
  remove?: string[];
  /** The proxies that pass the row's forged request-line headers to tollgate, which refuses the disagreement. */
  refusedBy?: Dialect[];
}

const CHALLENGE = 'Bearer realm="tollgate"';
const REFUSED: Verdict = { status: 403, reason: 'invalid_request_line', set: {} };
const invalid = (description: string) => `${CHALLENGE}, error="invalid_token", error_description="${description}"`;

const ROWS: Row[] = [
  {
    name: 'a teacher reads her course, a forged identity header overwritten',
    request: { path: '/courses/123/grades?term=2', headers: { 'x-user-id': 'forged', 'x-auth-level': 'root' } },
    token: { claims: TEACHER_OF_123 },
    expected: { status: 200, set: { 'x-user-id': 'alice', 'x-user-roles': '{"course":{"teacher":["123"]}}' } },
    remove: ['authorization', 'x-auth-level'],
  },
  {
    name: "another course's grades",
    request: { path: '/courses/999/grades' },
    token: { claims: TEACHER_OF_123 },
    expected: { status: 403, reason: 'context_role_mismatch', set: {} },
  },
  {
    name: 'no token on an authenticated route',
    request: { path: '/api/things', headers: { 'x-user-id': 'forged' } },
    expected: { status: 401, reason: 'missing_token', wwwAuthenticate: CHALLENGE, set: {} },
  },
  {
    name: 'an expired token',
    request: { path: '/api/things' },
    token: { ageSeconds: 3600, ttlSeconds: 60 },
    expected: { status: 401, reason: 'expired', wwwAuthenticate: invalid('token expired'), set: {} },
  },
  {
    name: 'a token for another audience',
    request: { path: '/api/things' },
    token: { audience: 'other-api' },
    expected: { status: 401, reason: 'invalid_audience', wwwAuthenticate: invalid('token audience is not accepted'), set: {} },
  },
  {
    name: 'two bearer tokens',
    request: { path: '/api/things' },
    token: { twice: true },
    expected: {
      status: 401,
      reason: 'ambiguous_token',
      wwwAuthenticate: `${CHALLENGE}, error="invalid_request", error_description="more than one token in the request"`,
      set: {},
    },
  },
  {
    name: 'a token in the session cookie',
    request: { path: '/api/things', method: 'DELETE' },
    token: { in: 'cookie', claims: { sub: 'bob' } },
    expected: { status: 200, set: { 'x-user-id': 'bob' } },
  },
  {
    name: 'a role the token lacks',
    request: { path: '/admin/users', method: 'POST' },
    token: { claims: { sub: 'bob', roles: ['student'] } },
    expected: { status: 403, reason: 'missing_role', set: {} },
  },
  {
    name: 'an anonymous route: forged identity removed, nothing injected',
    request: { path: '/public/docs', headers: { 'x-user-id': 'forged', 'X-User-Roles': 'admin' } },
    expected: { status: 200, set: {} },
    remove: ['x-user-id', 'x-user-roles'],
  },
  {
    name: 'an encoded slash in the path',
    request: { path: '/public/..%2Fadmin/users' },
    expected: { status: 403, reason: 'invalid_path', set: {} },
  },
  {
    name: 'a method no rule opens',
    request: { path: '/courses/123/grades', method: 'PUT' },
    token: { claims: TEACHER_OF_123 },
    expected: { status: 403, reason: 'no_matching_rule', set: {} },
  },
  {
    name: 'the gateway workload, by its certificate, without a token',
    request: { path: '/internal/sync', method: 'POST', peer: GATEWAY },
    expected: { status: 200, set: {} },
  },
  {
    name: 'another workload',
    request: { path: '/internal/sync', method: 'POST', peer: 'spiffe://cluster.local/ns/web/sa/frontend' },
    expected: { status: 403, reason: 'peer_not_allowed', set: {} },
  },
  {
    name: 'no workload identity where one is required',
    request: { path: '/internal/sync', method: 'POST' },
    token: { claims: { sub: 'bob' } },
    expected: { status: 403, reason: 'peer_not_allowed', set: {} },
  },
  // Issue 29: behind ingress-nginx (which sets X-Original-URL only) tollgate decided on a client's own
  // X-Original-URI. A client's request-line headers never change a decision: each proxy overwrites the
  // ones its endpoint reads, and a disagreeing one it passes through is refused.
  {
    name: "a client's own X-Original-URI, -Host and -Method naming a public path, on an admin request",
    request: {
      path: '/admin/users',
      method: 'POST',
      headers: { 'x-original-uri': '/public/docs', 'x-original-host': 'api.example.com', 'x-original-method': 'GET' },
    },
    expected: { status: 401, reason: 'missing_token', wwwAuthenticate: CHALLENGE, set: {} },
    refusedBy: ['ingress-nginx'],
  },
  {
    name: "a client's own X-Original-URL naming a public path, on an admin request",
    request: { path: '/admin/users', headers: { 'x-original-url': 'http://api.example.com/public/docs' } },
    expected: { status: 401, reason: 'missing_token', wwwAuthenticate: CHALLENGE, set: {} },
  },
  {
    name: "a client's own X-Forwarded-Uri, -Host and -Method naming a public path, on an admin request",
    request: {
      path: '/admin/users',
      headers: { 'x-forwarded-uri': '/public/docs', 'x-forwarded-host': 'api.example.com', 'x-forwarded-method': 'GET' },
    },
    expected: { status: 401, reason: 'missing_token', wwwAuthenticate: CHALLENGE, set: {} },
  },
  {
    name: "a client's own X-Original-URI that agrees with the request",
    request: { path: '/api/things?page=2', headers: { 'x-original-uri': '/api/things?page=2' } },
    token: { claims: { sub: 'bob' } },
    expected: { status: 200, set: { 'x-user-id': 'bob' } },
    remove: ['authorization'],
  },
  {
    name: 'when: a user reads her own profile',
    request: { path: '/users/alice/profile' },
    token: { claims: { sub: 'alice' } },
    expected: { status: 200, set: { 'x-user-id': 'alice' } },
    remove: ['authorization'],
  },
  {
    name: "when: another user's profile",
    request: { path: '/users/bob/profile' },
    token: { claims: { sub: 'alice' } },
    expected: { status: 403, reason: 'condition_not_met', set: {} },
  },
  {
    name: 'when: the tenant in the path, the header and the token agree',
    request: { path: '/tenants/acme/orders', headers: { 'x-tenant-id': 'acme' } },
    token: { claims: { sub: 'alice', tenant: 'acme' } },
    expected: { status: 200, set: { 'x-user-id': 'alice' } },
    remove: ['authorization'],
  },
  {
    name: 'when: the tenant header names another tenant',
    request: { path: '/tenants/acme/orders', headers: { 'x-tenant-id': 'globex' } },
    token: { claims: { sub: 'alice', tenant: 'acme' } },
    expected: { status: 403, reason: 'condition_not_met', set: {} },
  },
  {
    name: 'when: a condition never sees a forged identity header',
    request: { path: '/whoami', headers: { 'x-user-id': 'forged' } },
    token: { claims: { sub: 'alice' } },
    expected: { status: 200, set: { 'x-user-id': 'alice' } },
    remove: ['authorization'],
  },
  {
    name: 'when: a reader may GET',
    request: { path: '/articles/7' },
    token: { claims: { sub: 'rita', roles: ['reader'] } },
    expected: { status: 200, set: { 'x-user-id': 'rita', 'x-user-roles': 'reader' } },
    remove: ['authorization'],
  },
  {
    name: 'when: a reader may not DELETE',
    request: { path: '/articles/7', method: 'DELETE' },
    token: { claims: { sub: 'rita', roles: ['reader'] } },
    expected: { status: 403, reason: 'condition_not_met', set: {} },
  },
];

const TRANSPORTS = ['grpc', 'envoy', 'nginx', 'ingress-nginx', 'traefik'] as const;
type TransportName = (typeof TRANSPORTS)[number];

/** Envoy's StatusCode enum names, as the official protos decode `denied_response.status.code`. */
const STATUS_NAMES: Record<string, number> = { Unauthorized: 401, Forbidden: 403, InternalServerError: 500 };

function verdictOfGrpc(response: CheckResponse): { verdict: Verdict; remove: string[]; rule?: string } {
  const set: Record<string, string> = {};
  for (const h of [...(response.ok_response?.headers ?? []), ...(response.ok_response?.response_headers_to_add ?? [])])
    set[h.header!.key!] = h.header!.value!;
  if (response.status?.code === 0)
    return { verdict: { status: 200, set }, remove: [...(response.ok_response?.headers_to_remove ?? [])].sort() };
  const denied = response.denied_response!;
  const status = typeof denied.status?.code === 'number' ? denied.status.code : STATUS_NAMES[String(denied.status?.code)]!;
  const challenge = denied.headers?.find((h) => h.header?.key === 'www-authenticate')?.header?.value;
  const body = JSON.parse(denied.body!) as { reason: string; rule?: string };
  return { verdict: { status, reason: body.reason, wwwAuthenticate: challenge, set }, remove: [], rule: body.rule };
}

/** Headers of the HTTP exchange itself, not of the decision. */
const TRANSPORT_HEADERS = new Set([
  'cache-control',
  'connection',
  'content-length',
  'content-type',
  'date',
  'keep-alive',
  'www-authenticate',
  'x-envoy-auth-headers-to-remove',
]);

function verdictOfHttp(answer: HttpAnswer): { verdict: Verdict; remove: string[] } {
  const set = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !TRANSPORT_HEADERS.has(name)));
  const remove = (answer.headers['x-envoy-auth-headers-to-remove'] ?? '').split(', ').filter(Boolean).sort();
  if (answer.status === 200) {
    expect(answer.body).toBe('');
    return { verdict: { status: 200, set }, remove };
  }
  expect(answer.headers['content-type']).toBe('application/json');
  return {
    verdict: {
      status: answer.status,
      reason: (JSON.parse(answer.body) as { reason: string }).reason,
      wwwAuthenticate: answer.headers['www-authenticate'],
      set,
    },
    remove,
  };
}

describe('one decision table, four transports', () => {
  let tg: RunningTollgate;
  let jwksServer: TestHttpServer;
  let key: TestKey;
  /** tollgate_check_total labels of the decisions a refusal took the place of, once per refusal. */
  const refusedInstead: string[] = [];

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    tg = await startTollgate({
      providers: [
        {
          ...es256Provider(ISSUER, AUDIENCE, `${jwksServer.url}/jwks.json`),
          fromCookies: ['session'],
          claimToHeaders: [
            { header: 'x-user-id', claim: 'sub' },
            { header: 'x-user-roles', claim: 'roles' },
          ],
        },
      ],
      authz: { trustForwardedClientCert: true },
      rules: [
        { id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } },
        {
          id: 'grades',
          match: { methods: ['GET'], paths: ['/courses/{courseId}/grades'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'] } },
        },
        { id: 'admin', match: { paths: ['/admin/**'] }, require: { roles: { anyOf: ['admin'] } } },
        { id: 'internal', match: { paths: ['/internal/**'] }, require: { peer: { principals: [GATEWAY] } } },
        { id: 'profile', match: { paths: ['/users/{userId}/**'] }, require: { authenticated: true, when: 'claims.sub == params.userId' } },
        {
          id: 'tenant',
          match: { paths: ['/tenants/{tenantId}/**'] },
          require: { authenticated: true, when: "claims.tenant == params.tenantId && request.headers['x-tenant-id'] == claims.tenant" },
        },
        { id: 'whoami', match: { paths: ['/whoami'] }, require: { authenticated: true, when: "!('x-user-id' in request.headers)" } },
        {
          id: 'articles',
          match: { paths: ['/articles/**'] },
          require: { roles: { anyOf: ['reader', 'admin'] }, when: "request.method == 'GET' || 'admin' in claims.roles" },
        },
        { id: 'api', match: { paths: ['/api/**'] }, require: { authenticated: true } },
      ],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
  });

  async function originalWithToken(row: Row): Promise<OriginalRequest> {
    if (!row.token) return row.request;
    const { claims, audience = AUDIENCE, ageSeconds = 0, ttlSeconds = 300 } = row.token;
    const token = await mint(ISSUER, audience, { key, claims, now: nowSeconds(tg.clock) - ageSeconds, ttlSeconds });
    const headers: Record<string, string | string[]> = { ...row.request.headers };
    if (row.token.in === 'cookie') headers.cookie = `theme=dark; session=${token}`;
    else headers.authorization = row.token.twice ? [`Bearer ${token}`, `Bearer ${token}`] : `Bearer ${token}`;
    return { ...row.request, headers };
  }

  async function viaGrpc(original: OriginalRequest) {
    // Envoy's `headers` map: lower-case names, a repeated header's values joined with ",".
    const headers = Object.fromEntries(
      Object.entries(original.headers ?? {}).map(([name, value]) => [name.toLowerCase(), [value].flat().join(',')]),
    );
    return verdictOfGrpc(
      await tg.client.check(
        checkRequest({ method: original.method, path: original.path, host: original.host, headers, principal: original.peer }),
      ),
    );
  }

  it.each(ROWS)('$name', async (row) => {
    const original = await originalWithToken(row);
    const results = {} as Record<TransportName, { verdict: Verdict; remove: string[] }>;
    const grpc = await viaGrpc(original);
    results.grpc = grpc;
    for (const dialect of ['envoy', 'nginx', 'ingress-nginx', 'traefik'] as Dialect[])
      results[dialect] = verdictOfHttp(await askAuthz(tg.app.authzPort, dialect, original));

    for (const transport of TRANSPORTS) {
      const refused = transport !== 'grpc' && row.refusedBy?.includes(transport);
      expect({ transport, ...results[transport].verdict }).toEqual({ transport, ...(refused ? REFUSED : row.expected) });
      // Only token-less rows are refused here: no provider label.
      if (refused) refusedInstead.push(`decision="deny",reason="${row.expected.reason}",provider="",rule="${grpc.rule ?? ''}"`);
    }
    expect(results.grpc.remove).toEqual(row.remove ?? []);
    expect(results.envoy.remove).toEqual(results.grpc.remove);
  });

  it('counted every row once per transport, under the same labels', async () => {
    const text = await (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
    const counts = new Map<string, number>();
    for (const [, labels, value] of text.matchAll(/^tollgate_check_total\{(.*),transport="(?:grpc|http)"\} (\d+)$/gm)) {
      counts.set(labels!, (counts.get(labels!) ?? 0) + Number(value));
    }
    let labelSets = 0;
    for (const [, labels, value] of text.matchAll(/^tollgate_check_total\{(.*),transport="grpc"\} (\d+)$/gm)) {
      // The four HTTP dialects together decided each row four times (but where they refused it), gRPC once.
      const refusals = refusedInstead.filter((l) => l === labels).length;
      expect(counts.get(labels!), labels).toBe(5 * Number(value) - refusals);
      labelSets++;
    }
    expect(labelSets).toBeGreaterThanOrEqual(10);
    expect(refusedInstead.length).toBeGreaterThan(0);
    const refusedCount = text.match(
      /^tollgate_check_total\{decision="deny",reason="invalid_request_line",provider="",rule="",transport="http"\} (\d+)$/m,
    );
    expect(Number(refusedCount?.[1])).toBe(refusedInstead.length);
    expect(text).toMatch(/tollgate_check_duration_seconds_count\{transport="http"\} \d+/);
  });
});
