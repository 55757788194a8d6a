import { describe, expect, it } from 'vitest';
import type { CheckResponse } from '../../src/envoy/types.js';
import { decide } from '../../src/pipeline/decide.js';
import { IdentityHeaders, toCheckResponse, type ResponseContext } from '../../src/pipeline/respond.js';
import { PreparedAllows, type SerializeResponse } from '../../src/server/prepared-allow.js';
import { AUTHORIZATION_SERVICE, loadAuthorizationPackage } from '../../src/server/proto.js';
import type * as grpc from '@grpc/grpc-js';
import { requestView, testConfig, testRuntime, token } from '../pipeline/helpers.js';

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
});
