import { describe, expect, it } from 'vitest';
import { fromStruct } from '../../src/envoy/types.js';
import { decide } from '../../src/pipeline/decide.js';
import { dpopChallengeOf, IdentityHeaders, toCheckResponse, type Outcome, type ResponseContext } from '../../src/pipeline/respond.js';
import { REASONS, type PolicyReason, type Reason, type RequestFailure, type TokenFailure } from '../../src/reasons.js';
import { CONFIG_YAML, requestView, testConfig, testRuntime, token } from './helpers.js';

const unsafe: string[] = [];
const ctx: ResponseContext = {
  identityHeaders: new IdentityHeaders(testConfig()),
  realm: 'unit',
  onUnsafeClaim: (header) => unsafe.push(header),
};

function outcomeFor(reason: Reason): Outcome {
  const { stage } = REASONS[reason];
  if (stage === 'internal') return { kind: 'error' };
  if (stage === 'request') return { kind: 'refused_request', reason: reason as RequestFailure };
  if (stage === 'policy') return { kind: 'forbidden', reason: reason as PolicyReason, ruleId: 'r1' };
  return { kind: 'unauthenticated', reason: reason as TokenFailure };
}

describe('toCheckResponse', () => {
  it.each(Object.keys(REASONS) as Reason[])('denies %s as the reason catalogue says', (reason) => {
    const entry = REASONS[reason];
    const response = toCheckResponse(outcomeFor(reason), requestView('/x'), ctx);
    expect(response.status).toEqual({ code: entry.status === 401 ? 16 : 7, message: reason });
    expect(response.denied_response?.status).toEqual({ code: entry.status });
    const body = JSON.parse(response.denied_response?.body ?? '{}') as Record<string, unknown>;
    expect(body.error).toBe({ 401: 'unauthenticated', 403: 'forbidden', 500: 'internal_error' }[entry.status]);
    expect(body.reason).toBe(reason);
    const headers = Object.fromEntries((response.denied_response?.headers ?? []).map((h) => [h.header?.key, h.header?.value]));
    expect(headers['content-type']).toBe('application/json');
    if (entry.status !== 401) expect(headers['www-authenticate']).toBeUndefined();
    else if (entry.bearerError === null) expect(headers['www-authenticate']).toBe('Bearer realm="unit"');
    else
      expect(headers['www-authenticate']).toBe(
        `Bearer realm="unit", error="${entry.bearerError}", error_description="${entry.description}"`,
      );
  });

  it('names the deciding rule in the body, and no rule when none decided', () => {
    const forbidden = toCheckResponse({ kind: 'forbidden', reason: 'missing_scope', ruleId: 'reports' }, requestView('/x'), ctx);
    expect(JSON.parse(forbidden.denied_response?.body ?? '')).toEqual({ error: 'forbidden', reason: 'missing_scope', rule: 'reports' });
    const error = toCheckResponse({ kind: 'error' }, requestView('/x'), ctx);
    expect(JSON.parse(error.denied_response?.body ?? '')).toEqual({ error: 'internal_error', reason: 'internal_error' });
  });

  it('allows with identity headers set, spoofed ones and the token header removed, metadata filled', async () => {
    const { runtime } = testRuntime();
    const bearer = `Bearer ${await token()}`;
    const view = requestView('/courses/1', {
      authorization: bearer,
      'x-user-id': 'mallory',
      'x-user-roles': 'admin',
      'x-auth-level': '9',
      accept: '*/*',
    });
    const { outcome } = await decide(runtime, view);
    const response = toCheckResponse(outcome, view, ctx);
    expect(response.status).toEqual({ code: 0 });
    expect(response.ok_response?.headers).toEqual([
      { header: { key: 'x-user-id', value: 'alice' }, append: { value: false }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    ]);
    // x-user-id is overwritten rather than removed; the token's header goes unless forwardToken is set.
    expect(response.ok_response?.headers_to_remove?.sort()).toEqual(['authorization', 'x-auth-level', 'x-user-roles']);
    expect(fromStruct(response.dynamic_metadata)).toEqual({
      rule: 'courses',
      provider: 'idp',
      iss: 'https://idp.example.com',
      sub: 'alice',
      claims: { sub: 'alice' },
    });
  });

  it('leaves out a claim that cannot travel as a header value, and reports it', async () => {
    const { runtime } = testRuntime();
    const view = requestView('/courses/1', { authorization: `Bearer ${await token({ sub: 'bad\r\nvalue' })}` });
    const { outcome } = await decide(runtime, view);
    unsafe.length = 0;
    const response = toCheckResponse(outcome, view, ctx);
    expect(response.ok_response?.headers).toEqual([]);
    expect(unsafe).toEqual(['x-user-id']);
  });

  it('injects a claim of one character', async () => {
    const { runtime } = testRuntime();
    const view = requestView('/courses/1', { authorization: `Bearer ${await token({ sub: 'a' })}` });
    const { outcome } = await decide(runtime, view);
    expect(toCheckResponse(outcome, view, ctx).ok_response?.headers?.map((h) => h.header)).toEqual([{ key: 'x-user-id', value: 'a' }]);
  });

  it('asks the client to refresh a token with stale permissions', () => {
    const response = toCheckResponse({ kind: 'allow', ruleId: null, refresh: true }, requestView('/x'), ctx);
    expect(response.ok_response?.response_headers_to_add).toEqual([
      {
        header: { key: 'tollgate-token-refresh', value: 'required' },
        append: { value: false },
        append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
      },
    ]);
    expect(fromStruct(response.dynamic_metadata)).toEqual({ rule: null });
  });

  it("injects the roles context sources granted, merged per context, beside the token's own", async () => {
    const config = testConfig(CONFIG_YAML.replace('[{ header: x-user-id, claim: sub }]', '[{ header: x-user-roles, claim: roles }]'));
    const { runtime } = testRuntime(config);
    const view = requestView('/courses/1', { authorization: `Bearer ${await token({ roles: { group: { member: ['1'] } } })}` });
    const { outcome } = await decide(runtime, view);
    if (outcome.kind !== 'allow') throw new Error('expected an allow');
    const granted = [
      { claim: 'roles', context: 'course', id: '2', roles: ['ta'] },
      { claim: 'roles', context: 'course', id: '3', roles: ['ta', 'grader'] },
      { claim: 'roles', context: 'course', id: '3', roles: ['ta'] },
      { claim: 'other', context: 'course', id: '4', roles: ['ta'] },
    ];
    const response = toCheckResponse({ ...outcome, granted }, view, { ...ctx, identityHeaders: new IdentityHeaders(config) });
    const injected = response.ok_response?.headers?.find((h) => h.header?.key === 'x-user-roles')?.header?.value;
    expect(JSON.parse(injected ?? '')).toEqual({ group: { member: ['1'] }, course: { ta: ['2', '3'], grader: ['3'] } });
  });
});

describe('what an allow removes from the request', () => {
  const forwarding = new IdentityHeaders(testConfig(`${CONFIG_YAML}identityHeaders: { forwardToken: true }\n`));
  const minted = { header: 'authorization', value: 'Bearer minted' };
  const cookie = { kind: 'cookie', key: 'cookie:session', name: 'session' } as const;
  const param = { kind: 'param', key: 'param:access_token', name: 'access_token' } as const;
  const allowWith = (
    extra: Partial<Extract<Outcome, { kind: 'allow' }>>,
    headers: Record<string, string>,
    identityHeaders = ctx.identityHeaders,
  ) =>
    toCheckResponse({ kind: 'allow', ruleId: 'courses', ...extra }, requestView('/courses/1', headers), { ...ctx, identityHeaders })
      .ok_response;

  it('removes the whole cookie header when a minted token replaces a cookie token, and keeps it when nothing is minted', () => {
    const headers = { cookie: 'session=external; theme=dark', accept: '*/*' };
    const replaced = allowWith({ location: cookie, minted }, headers);
    expect(replaced?.headers_to_remove).toEqual(['cookie']);
    expect(replaced?.headers?.map((h) => h.header)).toEqual([{ key: 'authorization', value: 'Bearer minted' }]);
    expect(replaced?.query_parameters_to_remove).toEqual([]);
    // Without a minted token a cookie cannot be removed alone, and the request's other cookies must reach the upstream.
    const kept = allowWith({ location: cookie }, headers);
    expect(kept?.headers_to_remove).toEqual([]);
    expect(kept?.query_parameters_to_remove).toEqual([]);
  });

  it('removes the query parameter of a parameter token, and none of the cookies, when a token is minted', () => {
    const response = allowWith({ location: param, minted }, { cookie: 'theme=dark' });
    expect(response?.headers_to_remove).toEqual([]);
    expect(response?.query_parameters_to_remove).toEqual(['access_token']);
  });

  it('drops the header that carried the token when a token is minted, even with forwardToken: true', () => {
    const header = { kind: 'header', key: 'header:x-api-token', name: 'x-api-token', prefix: '' } as const;
    const headers = { 'x-api-token': 'external', accept: '*/*' };
    const replaced = allowWith({ location: header, minted }, headers, forwarding);
    expect(replaced?.headers_to_remove).toEqual(['x-api-token']);
    expect(replaced?.query_parameters_to_remove).toEqual([]);
    expect(allowWith({ location: header }, headers, forwarding)?.headers_to_remove).toEqual([]);
    expect(allowWith({ location: header }, headers)?.headers_to_remove).toEqual(['x-api-token']);
  });

  it('removes an exact strip entry by that name only, and reads a prefix with regular-expression characters literally', () => {
    const config = testConfig(`${CONFIG_YAML}identityHeaders: { strip: [x-exact, x.auth-] }\n`);
    const response = allowWith(
      {},
      { 'x-exact': 'forged', 'x-exact-level': 'kept', 'x.auth-level': 'forged', 'xzauth-level': 'kept', 'x-user-role': 'kept' },
      new IdentityHeaders(config),
    );
    expect(response?.headers_to_remove?.sort()).toEqual(['x-exact', 'x.auth-level']);
  });
});

describe('the DPoP challenge (RFC 9449 §7.1)', () => {
  const dpop = { algs: 'ES256 EdDSA', bearer: true };
  const expired = `error="invalid_token", error_description="${REASONS.expired.description}"`;
  const challenge = (outcome: Outcome, challenge: { algs: string; bearer: boolean } = dpop) =>
    toCheckResponse(outcome, requestView('/x'), { ...ctx, dpop: challenge }).denied_response?.headers?.find(
      (h) => h.header?.key === 'www-authenticate',
    )?.header?.value;

  it('offers both schemes, the error on the Bearer one for a token sent as Bearer, on the DPoP one for a token sent as DPoP', () => {
    expect(challenge({ kind: 'unauthenticated', reason: 'expired' })).toBe(
      `Bearer realm="unit", ${expired}, DPoP realm="unit", algs="ES256 EdDSA"`,
    );
    expect(challenge({ kind: 'unauthenticated', reason: 'expired', dpop: false })).toBe(
      `Bearer realm="unit", ${expired}, DPoP realm="unit", algs="ES256 EdDSA"`,
    );
    expect(challenge({ kind: 'unauthenticated', reason: 'expired', dpop: true })).toBe(
      `Bearer realm="unit", DPoP realm="unit", algs="ES256 EdDSA", ${expired}`,
    );
    // No token at all: no error attribute on either.
    expect(challenge({ kind: 'unauthenticated', reason: 'missing_token' })).toBe(
      'Bearer realm="unit", DPoP realm="unit", algs="ES256 EdDSA"',
    );
  });

  it('puts a DPoP error on the DPoP challenge, and dpop_required too, whatever scheme the token came with', () => {
    const proof = `error="invalid_dpop_proof", error_description="${REASONS.invalid_dpop_proof.description}"`;
    expect(challenge({ kind: 'unauthenticated', reason: 'invalid_dpop_proof' })).toBe(
      `Bearer realm="unit", DPoP realm="unit", algs="ES256 EdDSA", ${proof}`,
    );
    const required = `error="invalid_token", error_description="${REASONS.dpop_required.description}"`;
    expect(challenge({ kind: 'unauthenticated', reason: 'dpop_required' })).toBe(
      `Bearer realm="unit", DPoP realm="unit", algs="ES256 EdDSA", ${required}`,
    );
  });

  it('offers only DPoP, with the error, when no provider takes Bearer tokens', () => {
    const only = { algs: 'ES256', bearer: false };
    expect(challenge({ kind: 'unauthenticated', reason: 'expired' }, only)).toBe(`DPoP realm="unit", algs="ES256", ${expired}`);
    expect(challenge({ kind: 'unauthenticated', reason: 'missing_token' }, only)).toBe('DPoP realm="unit", algs="ES256"');
  });

  it('is no challenge on a 403 or a 500', () => {
    expect(challenge({ kind: 'forbidden', reason: 'missing_scope', ruleId: 'r1' })).toBeUndefined();
    expect(challenge({ kind: 'error' })).toBeUndefined();
  });

  it('is offered when some provider accepts DPoP, Bearer beside it unless every provider requires DPoP', () => {
    const providers = (yaml: string) => testConfig(yaml).providers;
    const second = CONFIG_YAML.replace(
      'rules:',
      `  - name: other
    issuer: https://other.example.com
    audiences: [api]
    algorithms: [HS256]
    hmacSecret: { env: TOLLGATE_PIPELINE_TEST_SECRET }
rules:`,
    );
    const withDpop = (yaml: string, dpopOf: string, at: number) => {
      let seen = 0;
      return yaml.replace(/algorithms: \[HS256\]/g, (match) => (seen++ === at ? `${match}\n    dpop: ${dpopOf}` : match));
    };
    expect(dpopChallengeOf(providers(CONFIG_YAML))).toBeUndefined();
    expect(dpopChallengeOf(providers(withDpop(CONFIG_YAML, '{}', 0)))).toEqual({ algs: expect.any(String), bearer: true });
    expect(dpopChallengeOf(providers(withDpop(CONFIG_YAML, '{ required: true, algorithms: [ES256] }', 0)))).toEqual({
      algs: 'ES256',
      bearer: false,
    });
    // A provider without dpop (it takes Bearer tokens) beside one that requires it, in either order.
    for (const at of [0, 1])
      expect(dpopChallengeOf(providers(withDpop(second, '{ required: true, algorithms: [ES256] }', at)))).toEqual({
        algs: 'ES256',
        bearer: true,
      });
    // Two providers, each requiring DPoP: no Bearer; their algorithms listed once each.
    const both = withDpop(
      withDpop(second, '{ required: true, algorithms: [ES256, EdDSA] }', 0),
      '{ required: true, algorithms: [EdDSA] }',
      1,
    );
    expect(dpopChallengeOf(providers(both))).toEqual({ algs: 'ES256 EdDSA', bearer: false });
  });
});

describe('which headers only tollgate may set', () => {
  const internalTokens = (header: string) =>
    `${CONFIG_YAML}internalTokens: { issuer: https://gw.example.com, keysDir: /keys, header: ${header} }
listen: { tls: { certFile: tls.crt, keyFile: tls.key, clientCaFile: ca.crt } }
`;

  it('counts the header minted tokens travel in, unless a provider reads tokens there', () => {
    expect(new IdentityHeaders(testConfig(internalTokens('x-internal-token'))).isIdentity('x-internal-token')).toBe(true);
    // The default: minted tokens go in authorization, where the provider reads its tokens; a client's copy is verified as one.
    expect(new IdentityHeaders(testConfig(internalTokens('authorization'))).isIdentity('authorization')).toBe(false);
    const reading = internalTokens('x-internal-token').replace(
      'algorithms: [HS256]',
      'algorithms: [HS256]\n    fromHeaders: [{ name: authorization, prefix: "Bearer " }, { name: X-Internal-Token }]',
    );
    expect(new IdentityHeaders(testConfig(reading)).isIdentity('x-internal-token')).toBe(false);
  });
});
