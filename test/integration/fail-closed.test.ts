/**
 * "Never fails open": whatever throws inside a Check (the verifier, the policy, the revocation store),
 * Envoy gets a PERMISSION_DENIED CheckResponse with a 500 body, never an allow and never an RPC error
 * (which `failure_mode_allow` would let through). The real handler and gRPC server run over loopback on
 * a Runtime built from a real config; only the one part under test is swapped for one that throws.
 */
import { GRPC_LIMIT_DEFAULTS } from '../../src/config/grpc-limits.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { createCheckMetrics } from '../../src/observability/metrics.js';
import type { Policy } from '../../src/policy/index.js';
import type { TokenVerifier } from '../../src/pipeline/verify.js';
import type { RevocationStore } from '../../src/revocation/index.js';
import { createCheckHandler, createChecker } from '../../src/server/check.js';
import { startGrpcServer, type GrpcServer } from '../../src/server/grpc.js';
import { buildRuntime, type Runtime } from '../../src/server/runtime.js';
import { ManualClock } from '../../src/util/clock.js';
import { checkRequest, deniedBody, EnvoyClient } from '../helpers/envoy-client.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds } from '../helpers/time.js';

const ISSUER = 'https://idp.example.com';

describe('a failure inside Check is a deny, never an allow or an RPC error', () => {
  let dir: string;
  let key: TestKey;
  let real: Runtime;
  let runtime: Runtime;
  let revocation: Pick<RevocationStore, 'check'> | undefined;
  let server: GrpcServer;
  let client: EnvoyClient;
  const logText: string[] = [];
  const rpcErrors: unknown[] = [];
  const registry = new Registry();
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-fail-closed-'));
    key = await testKey('ES256');
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks(key)));
    const config = parseConfig(
      stringify({
        providers: [{ name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { file: 'jwks.json' } }],
        rules: [
          { id: 'public', match: { paths: ['/public/**'] }, require: { anonymous: true } },
          { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
        ],
      }),
      dir,
    );
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logText.push(chunk.toString());
        done();
      },
    });
    const deps = { logger: createLogger('debug', sink), registry, clock };
    real = buildRuntime(config, deps);
    await real.start();
    const check = createCheckHandler(
      createChecker({
        runtime: () => runtime,
        revocation: () => revocation,
        metrics: createCheckMetrics(registry, { tokenCacheEntries: () => 0 }),
        logger: deps.logger,
      }),
    );
    server = await startGrpcServer('127.0.0.1:0', check, (err) => rpcErrors.push(err), { limits: GRPC_LIMIT_DEFAULTS });
    client = new EnvoyClient(server.port);
  });
  afterEach(() => {
    runtime = real;
    revocation = undefined;
  });
  afterAll(async () => {
    client?.close();
    await server?.shutdown(1000);
    real?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const bearer = async () => ({ authorization: `Bearer ${await mint(ISSUER, 'api', { key, now: nowSeconds(clock) })}` });

  async function expectInternalErrorDenial(request: Parameters<EnvoyClient['check']>[0]): Promise<void> {
    const response = await client.check(request);
    expect(response.status?.code).toBe(7);
    expect(response.http_response).toBe('denied_response');
    expect(response.denied_response?.status?.code).toBe('InternalServerError');
    expect(deniedBody(response)).toEqual({ error: 'internal_error', reason: 'internal_error' });
    expect(response.ok_response).toBeUndefined();
    expect(rpcErrors).toEqual([]);
  }

  it('the parts work as they are: a valid token is allowed', async () => {
    runtime = real;
    expect((await client.check(checkRequest({ headers: await bearer() }))).status?.code).toBe(0);
  });

  it('a verifier that rejects', async () => {
    const headers = await bearer();
    runtime = { ...real, verifier: { verify: () => Promise.reject(new Error('key store exploded')) } as unknown as TokenVerifier };
    await expectInternalErrorDenial(checkRequest({ headers }));
    const line = logText
      .join('')
      .split('\n')
      .find((l) => l.includes('check failed; denying'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ level: 50, requestId: '12345', err: { message: 'key store exploded' } });
    expect(logText.join('')).not.toContain(headers.authorization.slice('Bearer '.length));
    expect(await registry.getSingleMetricAsString('tollgate_check_total')).toMatch(
      /tollgate_check_total\{decision="deny",reason="internal_error",provider="",rule="",transport="grpc"\} [1-9]/,
    );
  });

  it('a verifier that throws synchronously', async () => {
    const headers = await bearer();
    runtime = {
      ...real,
      verifier: {
        verify: () => {
          throw new TypeError('not a function');
        },
      } as unknown as TokenVerifier,
    };
    await expectInternalErrorDenial(checkRequest({ headers }));
  });

  it('a policy that throws, on an anonymous route and on an authenticated request', async () => {
    const throwing: Policy = {
      authorize: () => {
        throw new RangeError('rule table corrupt');
      },
    };
    runtime = { ...real, policy: throwing };
    await expectInternalErrorDenial(checkRequest({ path: '/public/docs' }));
    await expectInternalErrorDenial(checkRequest({ headers: await bearer() }));
  });

  it('a revocation store whose check throws', async () => {
    runtime = real;
    revocation = {
      check: () => {
        throw new Error('mirror unreadable');
      },
    };
    await expectInternalErrorDenial(checkRequest({ headers: await bearer() }));
  });
});
