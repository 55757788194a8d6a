import { describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import type { CheckResponse } from '../../src/envoy/types.js';
import { IdentityHeaders, toCheckResponse, type DenialOutcome, type ResponseContext } from '../../src/pipeline/respond.js';
import { REASONS, type PolicyReason, type Reason, type RequestFailure, type TokenFailure } from '../../src/reasons.js';
import { createCheckMetrics } from '../../src/observability/metrics.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createChecker } from '../../src/server/check.js';
import { PreparedDenial, PreparedDenials } from '../../src/server/prepared-denial.js';
import type { SerializeResponse } from '../../src/server/prepared-response.js';
import { AUTHORIZATION_SERVICE, loadAuthorizationPackage } from '../../src/server/proto.js';
import { requestView, testConfig, testRuntime } from '../pipeline/helpers.js';

const service = loadAuthorizationPackage()[AUTHORIZATION_SERVICE] as grpc.ServiceDefinition;
const serialize = service.Check!.responseSerialize as SerializeResponse;
const deserialize = service.Check!.responseDeserialize as (bytes: Buffer) => CheckResponse;
const identityHeaders = new IdentityHeaders(testConfig());
const view = requestView('/courses/1', {});

/** The outcome a denial for `reason` comes from, as the pipeline builds it. */
function outcomeFor(reason: Reason, ruleId: string | null): DenialOutcome {
  if (REASONS[reason].stage === 'request') return { kind: 'refused_request', reason: reason as RequestFailure };
  if (reason === 'internal_error') return { kind: 'error' };
  return REASONS[reason].stage === 'policy'
    ? { kind: 'forbidden', reason: reason as PolicyReason, ruleId }
    : { kind: 'unauthenticated', reason: reason as TokenFailure, ruleId };
}

describe('prepared denials', () => {
  it('encode to the very bytes of the response object, for every reason, rule and realm', () => {
    const prepared = new PreparedDenials();
    let compared = 0;
    for (const realm of ['tollgate', 'other realm']) {
      const ctx: ResponseContext = { identityHeaders, realm, onUnsafeClaim: () => {} };
      for (const reason of Object.keys(REASONS) as Reason[]) {
        for (const ruleId of [null, 'course-grades', 'other-rule']) {
          const outcome = outcomeFor(reason, ruleId);
          const expected = serialize(toCheckResponse(outcome, view, ctx));
          // Twice: the second answer comes from the bytes kept for the first.
          for (let i = 0; i < 2; i++) {
            const answer = prepared.respond(outcome, realm);
            expect(answer.encode(serialize).equals(expected), `${realm} ${reason} ${ruleId}`).toBe(true);
            expect(deserialize(answer.encode(serialize))).toEqual(deserialize(expected));
            compared++;
          }
        }
      }
    }
    expect(compared).toBe(2 * Object.keys(REASONS).length * 3 * 2);
  });

  it('encodes each distinct denial once and keeps different ones apart', () => {
    const prepared = new PreparedDenials();
    let encodes = 0;
    const counting: SerializeResponse = (response) => {
      encodes++;
      return serialize(response);
    };
    const expired = prepared.respond({ kind: 'unauthenticated', reason: 'expired' }, 'tollgate');
    const again = prepared.respond({ kind: 'unauthenticated', reason: 'expired', ruleId: null }, 'tollgate');
    expect(again).toBe(expired);
    expect(again.encode(counting)).toBe(expired.encode(counting));
    expect(encodes).toBe(1);

    const byRule = prepared.respond({ kind: 'forbidden', reason: 'missing_role', ruleId: 'a' }, 'tollgate');
    const byOtherRule = prepared.respond({ kind: 'forbidden', reason: 'missing_role', ruleId: 'b' }, 'tollgate');
    const otherRealm = prepared.respond({ kind: 'unauthenticated', reason: 'expired' }, 'elsewhere');
    expect(new Set([expired, byRule, byOtherRule, otherRealm]).size).toBe(4);
    expect(JSON.parse(byOtherRule.toObject().denied_response!.body!)).toEqual({ error: 'forbidden', reason: 'missing_role', rule: 'b' });
    expect(otherRealm.toObject().denied_response!.headers![0]!.header!.value).toContain('realm="elsewhere"');
  });

  it('are what the gRPC checker answers a denial with; the HTTP transports get the same response object', async () => {
    const { runtime, deps } = testRuntime();
    const checker = createChecker({
      runtime: () => runtime,
      revocation: () => undefined,
      metrics: createCheckMetrics(deps.registry, { tokenCacheEntries: () => 0 }),
      logger: silentLogger(),
    });
    const noToken = () => requestView('/courses/1', {});
    const first = await checker.grpc(noToken);
    const second = await checker.grpc(noToken);
    expect(first).toBeInstanceOf(PreparedDenial);
    expect(second).toBe(first);
    expect(await checker.http(noToken)).toEqual((first as PreparedDenial).toObject());
    expect((first as PreparedDenial).toObject().status).toEqual({ code: 16, message: 'missing_token' });
  });
});
