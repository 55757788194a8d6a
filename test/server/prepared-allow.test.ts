import { describe, expect, it } from 'vitest';
import type { CheckResponse } from '../../src/envoy/types.js';
import { decide } from '../../src/pipeline/decide.js';
import { IdentityHeaders, toCheckResponse, type ResponseContext } from '../../src/pipeline/respond.js';
import { PreparedAllows, preparableToken } from '../../src/server/prepared-allow.js';
import type { SerializeResponse } from '../../src/server/prepared-response.js';
import { AUTHORIZATION_SERVICE, loadAuthorizationPackage } from '../../src/server/proto.js';
import type * as grpc from '@grpc/grpc-js';
import { CONFIG_YAML, requestView, testConfig, testRuntime, token } from '../pipeline/helpers.js';

const service = loadAuthorizationPackage()[AUTHORIZATION_SERVICE] as grpc.ServiceDefinition;
const serialize = service.Check!.responseSerialize as SerializeResponse;
const deserialize = service.Check!.responseDeserialize as (bytes: Buffer) => CheckResponse;
const ctx: ResponseContext = { identityHeaders: new IdentityHeaders(testConfig()), realm: 'unit', onUnsafeClaim: () => {} };

describe('prepared allows', () => {
  it('encode to the very bytes of the response object, whatever the request removes', async () => {
    const { runtime } = testRuntime();
    const prepared = new PreparedAllows();
    const bearer = `Bearer ${await token({ sub: 'alice' })}`;
    const requests = [
      requestView('/courses/1', { authorization: bearer }),
      requestView('/courses/2', { authorization: bearer, 'x-user-id': 'mallory', 'x-user-roles': 'admin', accept: '*/*' }),
      requestView('/courses/3', { authorization: bearer, 'x-auth-ü': 'x', [`x-user-${'long'.repeat(40)}`]: 'y' }),
      requestView('/courses/1', { authorization: bearer }),
    ];
    for (const view of requests) {
      const { outcome } = await decide(runtime, view);
      if (outcome.kind !== 'allow' || !outcome.token) throw new Error('expected an allow with a token');
      const answer = prepared.respond(outcome, outcome.token, view, ctx);
      const expected = serialize(toCheckResponse(outcome, view, ctx));
      expect(answer.encode(serialize).equals(expected), view.path).toBe(true);
      expect(deserialize(answer.encode(serialize))).toEqual(deserialize(expected));
    }
  });

  it('answers another rule, a refresh hint and a token from the query correctly too', async () => {
    const { runtime } = testRuntime();
    const prepared = new PreparedAllows();
    const t = await token({ sub: 'bob' });
    const byHeader = requestView('/courses/1', { authorization: `Bearer ${t}` });
    const { outcome } = await decide(runtime, byHeader);
    if (outcome.kind !== 'allow' || !outcome.token) throw new Error('expected an allow with a token');
    const variants = [
      { ...outcome, ruleId: 'another' },
      { ...outcome, refresh: true },
      { ...outcome, location: { kind: 'param' as const, key: 'param:access_token', name: 'access_token' } },
      outcome,
    ];
    for (const variant of variants) {
      const bytes = prepared.respond(variant, outcome.token, byHeader, ctx).encode(serialize);
      expect(bytes.equals(serialize(toCheckResponse(variant, byHeader, ctx))), JSON.stringify(variant.ruleId)).toBe(true);
    }
  });

  it('keeps allows decided on other context roles or as another role apart, for one token', async () => {
    const config = testConfig(
      CONFIG_YAML.replace(
        '[{ header: x-user-id, claim: sub }]',
        '[{ header: x-user-id, claim: sub }, { header: x-user-roles, claim: roles }]',
      ),
    );
    const { runtime } = testRuntime(config);
    const rc = { ...ctx, identityHeaders: new IdentityHeaders(config) };
    const prepared = new PreparedAllows();
    const view = requestView('/courses/1', {
      authorization: `Bearer ${await token({ sub: 'carol', roles: { group: { member: ['1'] } } })}`,
    });
    const { outcome } = await decide(runtime, view);
    if (outcome.kind !== 'allow' || !outcome.token) throw new Error('expected an allow with a token');
    const grant = (id: string, roles: string[]) => ({ claim: 'roles', context: 'course', id, roles });
    // Each differs from the one before only in what it was decided as; a crafted id must not collide.
    const variants = [
      outcome,
      { ...outcome, granted: [grant('1', ['ta'])] },
      { ...outcome, granted: [grant('2', ['ta'])] },
      { ...outcome, granted: [grant('2', ['ta', 'grader'])] },
      { ...outcome, granted: [grant('2', ['ta']), grant('3', ['ta'])] },
      { ...outcome, granted: [grant('2","3', ['ta'])] },
      { ...outcome, viewAs: { role: 'student', context: 'course', id: '1', claim: 'roles' } },
      { ...outcome, viewAs: { role: 'student', context: 'course', id: '2', claim: 'roles' } },
      { ...outcome, granted: [grant('1', ['ta'])] },
      outcome,
    ];
    const seen = new Set<string>();
    for (const variant of variants) {
      const bytes = prepared.respond(variant, outcome.token, view, rc).encode(serialize);
      expect(bytes.equals(serialize(toCheckResponse(variant, view, rc))), JSON.stringify(variant.granted ?? variant.viewAs ?? null)).toBe(
        true,
      );
      seen.add(bytes.toString('base64'));
    }
    expect(seen.size).toBe(8);
  });

  it('keeps allows carrying different minted internal tokens apart, and reuses one minted token', async () => {
    const { runtime } = testRuntime();
    const prepared = new PreparedAllows();
    const view = requestView('/courses/1', { authorization: `Bearer ${await token({ sub: 'dave' })}`, 'x-user-id': 'forged' });
    const { outcome } = await decide(runtime, view);
    if (outcome.kind !== 'allow' || !outcome.token) throw new Error('expected an allow with a token');
    const mint = (header: string, value: string) => ({ ...outcome, minted: { header, value } });
    const variants = [
      mint('authorization', 'Bearer m1'),
      mint('authorization', 'Bearer m1'),
      mint('authorization', 'Bearer m2'),
      mint('x-internal', 'm2'),
      outcome,
      mint('authorization', 'Bearer m1'),
    ];
    const answers = variants.map((variant) => {
      const bytes = prepared.respond(variant, outcome.token!, view, ctx).encode(serialize);
      expect(bytes.equals(serialize(toCheckResponse(variant, view, ctx))), JSON.stringify(variant.minted ?? null)).toBe(true);
      return bytes.toString('base64');
    });
    expect(new Set(answers).size).toBe(4);
    expect(answers[1]).toBe(answers[0]);
    expect(answers[5]).toBe(answers[0]);
  });

  it('are prepared only for a token seen before (a verified-token cache hit), minted or not', async () => {
    const { runtime } = testRuntime();
    const { outcome } = await decide(runtime, requestView('/courses/1', { authorization: `Bearer ${await token({ sub: 'erin' })}` }));
    if (outcome.kind !== 'allow' || !outcome.token) throw new Error('expected an allow with a token');
    expect(preparableToken(outcome, false)).toBeUndefined();
    expect(preparableToken(outcome, true)).toBe(outcome.token);
    expect(preparableToken({ ...outcome, minted: { header: 'authorization', value: 'Bearer m' } }, true)).toBe(outcome.token);
  });
});
