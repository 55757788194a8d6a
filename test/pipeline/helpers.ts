import { SignJWT } from 'jose';
import { Registry } from 'prom-client';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { Deps } from '../../src/observability/deps.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { RequestView } from '../../src/pipeline/request.js';
import { buildRuntime, type Runtime } from '../../src/server/runtime.js';
import { ManualClock } from '../../src/util/clock.js';

/** A runtime for the Check path without a socket: one HMAC provider, a few rules, a manual clock. */
export const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const SECRET = 'pipeline-unit-test-secret-0123456789abcdef';
const SECRET_ENV = 'TOLLGATE_PIPELINE_TEST_SECRET';

export const CONFIG_YAML = `
providers:
  - name: idp
    issuer: https://idp.example.com
    audiences: [api]
    algorithms: [HS256]
    hmacSecret: { env: ${SECRET_ENV} }
    claimToHeaders: [{ header: x-user-id, claim: sub }]
rules:
  - id: health
    match: { paths: [/healthz] }
    require: { anonymous: true }
  - id: reports
    match: { paths: ["/reports/**"] }
    require: { scopes: { allOf: [reports:read] } }
  - id: courses
    match: { paths: ["/courses/**"] }
    require: { authenticated: true }
`;

export function testConfig(yaml = CONFIG_YAML): Config {
  return parseConfig(yaml, '/');
}

export function testRuntime(config = testConfig()): { runtime: Runtime; deps: Deps } {
  process.env[SECRET_ENV] = SECRET;
  const deps: Deps = { logger: silentLogger(), registry: new Registry(), clock: new ManualClock(NOW_MS) };
  return { runtime: buildRuntime(config, deps), deps };
}

export function token(claims: Record<string, unknown> = {}): Promise<string> {
  const iat = Math.floor(NOW_MS / 1000);
  return new SignJWT({ sub: 'alice', jti: 'token-1', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://idp.example.com')
    .setAudience('api')
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .sign(new TextEncoder().encode(SECRET));
}

export function requestView(path: string, headers: Record<string, string> = {}): RequestView {
  return { method: 'GET', host: 'api.example.com', path, headers: new Map(Object.entries(headers).map(([k, v]) => [k, [v]])) };
}
