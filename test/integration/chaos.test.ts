/**
 * Chaos under load, against the built CLI as a user runs it: the JWKS server flaps (down and up every
 * few hundred ms), Redis (the revocation store) is killed and restarted every 3 s, and tollgate gets a
 * SIGHUP every second, while checks run without pause. Every answer must be a CheckResponse 0/7/16,
 * no revoked or forged token is ever allowed, and every revocation the admin API accepted is kept.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody, EnvoyClient } from '../helpers/envoy-client.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { waitFor } from '../helpers/time.js';
import { freePort, RedisServer } from '../revocation/redis-server.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
const ISSUER = 'https://idp.example.com';
const ADMIN_SECRET = 'chaos-admin-secret-0123456789abcdef';
const CHAOS_MS = 10_000;
/** Denials a valid token may get while a dependency is down: fail closed, never a wrong allow. */
const OUTAGE_REASONS = ['revocation_unavailable', 'keys_unavailable', 'unknown_key'];

describe('chaos: JWKS flapping, Redis restarts and SIGHUPs under load', () => {
  let dir: string;
  let redis: RedisServer;
  let jwksServer: TestHttpServer;
  let jwksUp = true;
  let child: ChildProcess;
  let ports: { grpcPort: number; httpPort: number };
  let key: TestKey;
  let output = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-chaos-'));
    key = await testKey('ES256');
    const document = JSON.stringify(jwks(key));
    jwksServer = await startHttpServer((_req, res) => {
      if (!jwksUp) {
        res.writeHead(503);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=1' });
      res.end(document);
    });
    redis = await RedisServer.launch({ persistent: true });
    writeFileSync(join(dir, 'admin-token'), ADMIN_SECRET);
    ports = { grpcPort: await freePort(), httpPort: await freePort() };
    const config = {
      listen: { grpc: `127.0.0.1:${ports.grpcPort}`, http: `127.0.0.1:${ports.httpPort}`, authz: '127.0.0.1:0' },
      shutdown: { notServingSeconds: 0, drainSeconds: 2 },
      providers: [
        {
          name: 'idp',
          issuer: ISSUER,
          audiences: ['api'],
          algorithms: ['ES256'],
          jwks: { uri: `${jwksServer.url}/jwks.json`, refreshSeconds: 1 },
        },
      ],
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
      revocation: { store: 'redis', redis: { url: redis.url, timeoutSeconds: 1 } },
      admin: { tokenFile: join(dir, 'admin-token') },
      log: { level: 'warn' },
    };
    writeFileSync(join(dir, 'tollgate.yaml'), stringify(config));
    child = spawn(process.execPath, [CLI, 'serve', '--config', join(dir, 'tollgate.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const ready = async () => (await fetch(`http://127.0.0.1:${ports.httpPort}/readyz`).catch(() => undefined))?.status === 200;
    await waitFor('readiness', ready, { timeoutMs: 20_000, intervalMs: 50 }).catch((err: Error) => {
      throw new Error(`${err.message}; tollgate said: ${output.slice(-1000)}`);
    });
  }, 60_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await redis?.dispose();
    await jwksServer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** POST a jti revocation until the admin API answers 201 (503 means not applied: try again). */
  async function revoke(jti: string): Promise<void> {
    await waitFor(
      `revocation of ${jti} accepted`,
      async () => {
        const response = await fetch(`http://127.0.0.1:${ports.httpPort}/admin/v1/revocations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'jti', value: jti, reason: 'chaos' }),
        });
        expect([201, 503]).toContain(response.status);
        return response.status === 201;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  }

  it('answers every check 0/7/16, never allows a revoked or forged token, and keeps every revocation', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = (jti: string) => mint(ISSUER, 'api', { key, claims: { jti }, now, ttlSeconds: 600 });
    const valid = await token('valid-1');
    const revokedBefore = await token('revoked-before');
    const revokedDuring = await token('revoked-during');
    const forged = `${valid.slice(0, valid.lastIndexOf('.') + 1)}${Buffer.alloc(64, 7).toString('base64url')}`;
    await revoke('revoked-before');

    const client = new EnvoyClient(ports.grpcPort);
    const counts = { allowed: 0, outageDenials: 0, checks: 0 };
    const wrong: string[] = [];
    let duringAccepted = false;
    const check = async (name: string, t: string, mayAllow: () => boolean) => {
      const response = await client.check(checkRequest({ headers: { authorization: `Bearer ${t}` } }));
      counts.checks++;
      const code = response.status?.code;
      if (code !== 0 && code !== 7 && code !== 16) wrong.push(`${name}: status ${code}`);
      if (code === 0) {
        counts.allowed++;
        if (!mayAllow()) wrong.push(`${name}: allowed`);
      } else if (name === 'valid') {
        const reason = String(deniedBody(response).reason);
        if (!OUTAGE_REASONS.includes(reason)) wrong.push(`valid: denied ${reason}`);
        counts.outageDenials++;
      }
    };

    const chaos = [
      setInterval(() => (jwksUp = !jwksUp), 300),
      setInterval(() => child.kill('SIGHUP'), 1000),
      setInterval(() => void redis.stop().then(() => redis.start()), 3000),
    ];
    const deadline = Date.now() + CHAOS_MS;
    try {
      const revocation = (async () => {
        await revoke('revoked-during');
        duringAccepted = true;
      })();
      const workers = Array.from({ length: 4 }, async () => {
        while (Date.now() < deadline) {
          // The answer to a check that started before the 201 may still be an allow.
          const revokedDuringMayAllow = !duringAccepted;
          await check('valid', valid, () => true);
          await check('revoked-before', revokedBefore, () => false);
          await check('revoked-during', revokedDuring, () => revokedDuringMayAllow);
          await check('forged', forged, () => false);
        }
      });
      await Promise.all([...workers, revocation]);
    } finally {
      chaos.forEach(clearInterval);
      client.close();
    }
    expect(wrong).toEqual([]);
    expect(counts.checks).toBeGreaterThan(100);
    expect(counts.allowed, JSON.stringify(counts)).toBeGreaterThan(0);

    // Calm again: both revocations are still there and enforced, and the valid token is allowed.
    jwksUp = true;
    await redis.start().catch(() => undefined);
    const after = new EnvoyClient(ports.grpcPort);
    try {
      await waitFor(
        'the valid token allowed again',
        async () => (await after.check(checkRequest({ headers: { authorization: `Bearer ${valid}` } }))).status?.code === 0,
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      for (const t of [revokedBefore, revokedDuring]) {
        expect(deniedBody(await after.check(checkRequest({ headers: { authorization: `Bearer ${t}` } }))).reason).toBe('revoked');
      }
      const listed = (await (
        await fetch(`http://127.0.0.1:${ports.httpPort}/admin/v1/revocations`, { headers: { authorization: `Bearer ${ADMIN_SECRET}` } })
      ).json()) as { revocations: Array<{ value: string }> };
      expect(listed.revocations.map((r) => r.value).sort()).toEqual(['revoked-before', 'revoked-during']);
      // The SIGHUPs reloaded the config while the checks ran.
      const metrics = await (await fetch(`http://127.0.0.1:${ports.httpPort}/metrics`)).text();
      expect(Number(/tollgate_config_reload_total\{result="success"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(5);
    } finally {
      after.close();
    }
  }, 60_000);
});
