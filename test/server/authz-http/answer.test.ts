/**
 * The HTTP form of each answer the respond stage gives: the CheckResponse gRPC Check returns, spoken
 * as each proxy expects it. The parity test drives real requests; this covers the answers a request
 * cannot provoke on purpose (an internal failure).
 */
import { describe, expect, it } from 'vitest';
import { toAuthzAnswer } from '../../../src/server/authz-http/answer.js';
import type { AuthzDialect } from '../../../src/server/authz-http/requests.js';
import { parseConfig } from '../../../src/config/load.js';
import { IdentityHeaders, toCheckResponse, type Outcome } from '../../../src/pipeline/respond.js';

const config = parseConfig('{}', '/');
const context = { identityHeaders: new IdentityHeaders(config), realm: 'tollgate', onUnsafeClaim: () => {} };
const answer = (outcome: Outcome, dialect: AuthzDialect) =>
  toAuthzAnswer(toCheckResponse(outcome, { method: 'GET', host: 'h', path: '/', headers: new Map() }, context), dialect);

describe('the HTTP authorization answer', () => {
  it('denies an internal failure with a status each proxy counts as a denial: nginx only knows 401 and 403', () => {
    expect(answer({ kind: 'error' }, 'nginx')).toMatchObject({ status: 403, body: '{"error":"internal_error","reason":"internal_error"}' });
    expect(answer({ kind: 'error' }, 'ingress-nginx').status).toBe(403);
    expect(answer({ kind: 'error' }, 'envoy').status).toBe(500);
    expect(answer({ kind: 'error' }, 'traefik').status).toBe(500);
  });

  it('keeps 401 and 403 as they are for every proxy', () => {
    for (const dialect of ['envoy', 'nginx', 'ingress-nginx', 'traefik'] as const) {
      expect(answer({ kind: 'unauthenticated', reason: 'missing_token' }, dialect).status).toBe(401);
      expect(answer({ kind: 'forbidden', reason: 'missing_role', ruleId: 'r' }, dialect).status).toBe(403);
    }
  });

  it('sends the permission-refresh hint on an allow, for the proxy to pass to the client', () => {
    const allowed = answer({ kind: 'allow', ruleId: 'r', refresh: true }, 'nginx');
    expect(allowed.status).toBe(200);
    expect(allowed.headers['tollgate-token-refresh']).toBe('required');
    expect(allowed.headers['cache-control']).toBe('no-store');
  });
});
