import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';
import { MASTER_NAME, SentinelSet } from './redis-topologies.js';
import { waitFor } from './helpers.js';

const ISSUER = 'https://idp.example.com';
const ADMIN_SECRET = 'sentinel-admin-secret-0123456789';
const REDIS_PASSWORD = 'sentinel-test-redis-password-5c1e';
/** Pace of the admin writes during the failover: a steady trickle, so the refusal window is measured to ~25 ms. */
const WRITE_EVERY_MS = 25;
/** Sentinel retries a failed failover after 2 × failover-timeout (10 s here); a loaded machine may need it. */
const FAILOVER_BUDGET_MS = 45_000;

/**
 * Two tollgate servers (A and B) on one primary, one replica and three sentinels, driven as an
 * operator and Envoy would: revocations through A's admin API, checks over B's gRPC Check.
 */
describe('revocation on Redis Sentinel: a failover right after a 2xx', () => {
  let set: SentinelSet;
  let jwksServer: TestHttpServer;
  let key: TestKey;
  let a: RunningTollgate;
  let b: RunningTollgate;
  beforeAll(async () => {
    [set, key] = await Promise.all([SentinelSet.launch(REDIS_PASSWORD), testKey('ES256')]);
    jwksServer = await startJwksServer(jwks(key));
    // The data nodes' password from an environment variable, the sentinels' from a file.
    process.env.TOLLGATE_TEST_SENTINEL_REDIS_PASSWORD = REDIS_PASSWORD;
    const config = {
      providers: [{ name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks` } }],
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
      revocation: {
        store: 'redis',
        redis: {
          sentinel: {
            sentinels: set.addresses,
            masterName: MASTER_NAME,
            password: { env: 'TOLLGATE_TEST_SENTINEL_REDIS_PASSWORD' },
            sentinelPassword: { file: 'sentinel-password' },
          },
          keyPrefix: 'ha:',
          timeoutSeconds: 2,
        },
      },
      admin: { tokenFile: 'admin-token' },
    };
    const files = { 'admin-token': ADMIN_SECRET, 'sentinel-password': `${REDIS_PASSWORD}\n` };
    a = await startTollgate(config, files);
    b = await startTollgate(config, files);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await jwksServer?.close();
    await set?.dispose();
    delete process.env.TOLLGATE_TEST_SENTINEL_REDIS_PASSWORD;
  });

  /** Why writes were refused, for the failure message. */
  const refusals = new Set<string>();
  const revoke = async (value: string): Promise<number> => {
    const response = await fetch(`http://127.0.0.1:${a.app.httpPort}/admin/v1/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'jti', value, reason: 'failover test' }),
    });
    const body = (await response.json()) as { message?: string };
    if (response.status !== 201) refusals.add(`${response.status} ${body.message}`);
    return response.status;
  };
  const token = (jti: string) => mint(ISSUER, 'api', { key, claims: { jti, sub: 'user' }, now: nowSeconds(b.clock) });
  const checkOnB = async (bearer: string) =>
    (await b.client.check(checkRequest({ headers: { authorization: `Bearer ${bearer}` } }))).status?.code;
  const readyzOf = async (tollgate: RunningTollgate) =>
    (await (await fetch(`http://127.0.0.1:${tollgate.app.httpPort}/readyz`)).json()) as { checks: Record<string, { detail?: string }> };

  it('B keeps denying what A acknowledged, answers every check, and no 2xx is lost; the refusal window is measured', async () => {
    const revokedToken = await token('before-failover');
    const innocentToken = await token('innocent');
    expect(await revoke('before-failover')).toBe(201);
    await waitFor('B to deny before-failover', async () => (await checkOnB(revokedToken)) === 16, { timeoutMs: 1000 });

    await set.primary.stop(); // SIGKILL right after the 2xx: only the replica (WAIT-confirmed) has it now
    const killed = performance.now();

    const answers: Array<{ value: string; status: number; atMs: number }> = [];
    const gapDetails = new Set<string>();
    let checks = 0;
    let promotedAtMs: number | undefined;
    for (let n = 0; performance.now() - killed < FAILOVER_BUDGET_MS; n++) {
      const value = `during-${n}`;
      const status = await revoke(value);
      answers.push({ value, status, atMs: performance.now() - killed });
      // Every check is answered, from B's mirror: the revoked token denied, the other allowed. (B's
      // /readyz is read for the message only on a failure: reading it every round would slow the loop.)
      const when = async () =>
        `write ${n} (${status}) at ${(performance.now() - killed).toFixed(0)} ms; B's revocation check: ${JSON.stringify((await readyzOf(b)).checks.revocation)}`;
      const revokedOnB = await checkOnB(revokedToken);
      if (revokedOnB !== 16) expect(revokedOnB, await when()).toBe(16);
      const innocentOnB = await checkOnB(innocentToken);
      if (innocentOnB !== 0) expect(innocentOnB, await when()).toBe(0);
      checks += 2;
      const detail = (await readyzOf(b)).checks.revocation?.detail;
      if (detail !== undefined) gapDetails.add(detail.replace(/for \d+s/, 'for Ns'));
      if (promotedAtMs === undefined && (await set.currentPrimary()) === set.replica.address) promotedAtMs = performance.now() - killed;
      if (promotedAtMs !== undefined && status === 201) break;
      await new Promise((resolve) => setTimeout(resolve, WRITE_EVERY_MS)); // pacing the load, not synchronising
    }
    const summary = `${answers.length} answers, last ${answers.at(-1)?.status}; refusals: ${[...refusals].join(' | ')}`;
    expect(promotedAtMs, `the sentinels promoted the replica (answers: ${summary})`).toBeDefined();
    expect(answers.at(-1)?.status, `answers: ${summary}`).toBe(201);
    const refused = answers.filter((answer) => answer.status !== 201);
    expect(refused.every((answer) => answer.status === 503 || answer.status === 504)).toBe(true);
    const window = refused.length === 0 ? 0 : (refused.at(-1)?.atMs ?? 0) - (refused[0]?.atMs ?? 0);
    console.log(
      `sentinel failover: replica promoted ${promotedAtMs?.toFixed(0)} ms after SIGKILL; ${answers.length} admin writes, ` +
        `${refused.length} refused (${refused.filter((r) => r.status === 503).length}×503, ${refused.filter((r) => r.status === 504).length}×504) ` +
        `over ${window.toFixed(0)} ms (first at ${refused[0]?.atMs.toFixed(0)} ms, last at ${refused.at(-1)?.atMs.toFixed(0)} ms); ` +
        `${checks} checks on B, all answered`,
    );
    // B's /readyz named the gap while it lasted.
    expect([...gapDetails]).toContain('store unreachable for Ns; tokens are checked against the revocations last synced');

    // Every 2xx is on the new primary and in B's mirror; every 503 is in neither, now or later.
    await waitFor('B to resync from the new primary', async () => (await readyzOf(b)).checks.revocation?.detail === undefined, {
      timeoutMs: 10_000,
    });
    const listed = async (tollgate: RunningTollgate) => {
      const response = await fetch(`http://127.0.0.1:${tollgate.app.httpPort}/admin/v1/revocations`, {
        headers: { authorization: `Bearer ${ADMIN_SECRET}` },
      });
      return new Set(((await response.json()) as { revocations: Array<{ value: string }> }).revocations.map((entry) => entry.value));
    };
    const onB = await listed(b);
    const promoted = new Redis({ port: set.replica.port, host: '127.0.0.1', password: REDIS_PASSWORD });
    try {
      for (const answer of [{ value: 'before-failover', status: 201 }, ...answers]) {
        const stored = (await promoted.exists(`ha:rev:jti:${answer.value}`)) === 1;
        if (answer.status === 201) expect([stored, onB.has(answer.value)], `${answer.value} was acknowledged`).toEqual([true, true]);
        if (answer.status === 503) expect([stored, onB.has(answer.value)], `${answer.value} was refused with 503`).toEqual([false, false]);
      }
    } finally {
      promoted.disconnect();
    }
    expect(await checkOnB(revokedToken)).toBe(16);

    // A new revocation through A reaches B's Check within a second, once A has found the new primary
    // too (until then A refuses writes with 503, as the window above measured).
    await waitFor('A to reach the new primary', async () => (await readyzOf(a)).checks.revocation?.detail === undefined, {
      timeoutMs: 10_000,
    });
    const afterToken = await token('after-failover');
    expect(await checkOnB(afterToken)).toBe(0);
    const started = performance.now();
    expect(await revoke('after-failover')).toBe(201);
    await waitFor('B to deny after-failover', async () => (await checkOnB(afterToken)) === 16, { timeoutMs: 1000, intervalMs: 0 });
    for (const tollgate of [a, b]) expect(tollgate.logText()).not.toContain(REDIS_PASSWORD);
    console.log(
      `after the failover: revocation through A denied by B's Check ${(performance.now() - started).toFixed(1)} ms after the request`,
    );
  }, 90_000);
});
