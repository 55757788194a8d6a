import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { checkRequest } from '../helpers/envoy-client.js';
import { jwks, mint, testKey } from '../helpers/keys.js';
import { waitFor } from '../helpers/time.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const provider = {
  name: 'idp',
  issuer: ISSUER,
  audiences: ['api'],
  algorithms: ['ES256'],
  jwks: { file: 'jwks.json' },
  fromParams: ['access_token'],
};
const rules = [
  { id: 'open', match: { paths: ['/open/**'] }, require: { anonymous: true } },
  { id: 'staff', match: { paths: ['/staff/**'] }, require: { roles: { anyOf: ['staff'] } }, rollout: { enforcePercent: 100 } },
];

async function metric(tg: RunningTollgate, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

const linesOf = (path: string) =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

describe('decision log', () => {
  let tg: RunningTollgate | undefined;
  afterEach(async () => {
    await tg?.close();
    tg = undefined;
  });

  it("writes one JSON line per sampled decision: the decision's fields and masked claims, never the token", async () => {
    const key = await testKey('ES256');
    tg = await startTollgate(
      {
        providers: [provider],
        rules,
        decisionLog: { sink: 'file', path: 'decisions.jsonl', sampleAllowed: 1, mask: ['email', 'org.billing', 'https://example.com/ssn'] },
      },
      { 'jwks.json': jwks(key) },
      // A fixed moment, so the line's `time` shows the decision log reads tollgate's clock.
      { clockStart: Date.UTC(2026, 10, 23, 12, 0, 0) },
    );
    const token = await mint(ISSUER, 'api', {
      key,
      now: nowSeconds(tg.clock),
      claims: {
        sub: 'alice',
        email: 'a@example.com',
        roles: ['staff'],
        org: { id: 7, billing: 'acct-9' },
        'https://example.com/ssn': '123',
      },
    });
    const denyToken = await mint(ISSUER, 'api', { key, now: nowSeconds(tg.clock), claims: { sub: 'bob', email: 'b@example.com' } });
    await tg.client.check(
      checkRequest({ path: '/staff/x', headers: { authorization: `Bearer ${token}` }, principal: 'spiffe://cluster.local/ns/edge/sa/gw' }),
    );
    await tg.client.check(checkRequest({ path: `/staff/y?access_token=${denyToken}` }));
    await tg.client.check(checkRequest({ path: '/staff/z', headers: { authorization: 'Bearer not.a.token' } }));

    const path = join(tg.dir, 'decisions.jsonl');
    await waitFor('three decision lines', () => linesOf(path).length === 3);
    const [allowed, denied, refused] = linesOf(path);
    expect(allowed).toEqual({
      time: '2026-11-23T12:00:00.000Z',
      requestId: '12345',
      decision: 'allow',
      rule: 'staff',
      reason: 'allowed',
      provider: 'idp',
      transport: 'grpc',
      sub: 'alice',
      method: 'GET',
      path: '/staff/x',
      peer: 'spiffe://cluster.local/ns/edge/sa/gw',
      latencyMs: expect.any(Number),
      arm: 'enforced',
      claims: { iss: ISSUER, aud: 'api', sub: 'alice', iat: expect.any(Number), exp: expect.any(Number), roles: ['staff'], org: { id: 7 } },
    });
    expect(denied).toMatchObject({
      decision: 'deny',
      rule: 'staff',
      reason: 'missing_role',
      sub: 'bob',
      path: '/staff/y',
      claims: { sub: 'bob' },
    });
    expect(denied!.claims).not.toHaveProperty('email');
    // A refused token's claims are not verified: none are logged.
    expect(refused).toMatchObject({ decision: 'deny', reason: 'malformed_token' });
    expect(refused).not.toHaveProperty('claims');
    const text = readFileSync(path, 'utf8');
    for (const secret of [token, denyToken, 'not.a.token', 'a@example.com', 'acct-9', '"123"']) expect(text).not.toContain(secret);
  });

  it('samples by default: every denial, no allowed request', async () => {
    tg = await startTollgate({ rules, decisionLog: { sink: 'file', path: 'decisions.jsonl' } });
    for (let i = 0; i < 5; i++) await tg.client.check(checkRequest({ path: '/open/x' }));
    await tg.client.check(checkRequest({ path: '/staff/last' }));
    const path = join(tg.dir, 'decisions.jsonl');
    await waitFor('the denial line', () => linesOf(path).length > 0);
    expect(linesOf(path).map((l) => l.path)).toEqual(['/staff/last']);
  });

  it('with the sink blocked (a pipe nobody reads), checks keep being answered and dropped lines are counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-fifo-'));
    const fifo = join(dir, 'decisions.pipe');
    execFileSync('mkfifo', [fifo]);
    // A reader that never reads: the writer can open the pipe, fills its 64 KiB buffer, then blocks.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      tg = await startTollgate({ rules, decisionLog: { sink: 'file', path: fifo, sampleAllowed: 1, maxQueue: 100 } });
      const total = 2000;
      let answered = 0;
      for (let batch = 0; batch < total / 100; batch++) {
        const responses = await Promise.all(Array.from({ length: 100 }, () => tg!.client.check(checkRequest({ path: '/open/x' }))));
        answered += responses.filter((r) => r.status?.code === 0).length;
      }
      expect(answered).toBe(total);
      // At most the queue and what the pipe took (64 KiB of lines over 100 bytes each) got through; the rest was dropped.
      const dropped = await metric(tg, 'tollgate_decision_log_dropped_total');
      expect(dropped).toBeGreaterThan(total - 100 - 65536 / 100);
      expect(dropped).toBeLessThan(total);
    } finally {
      closeSync(reader); // the writer's blocked write now fails (EPIPE) and the thread is free to end
    }
  });

  it("caps the ordinary log's denial lines per second, counts the skipped ones and says so in the next line", async () => {
    tg = await startTollgate({ rules, log: { level: 'info', denialsPerSecond: 5 } });
    for (let i = 0; i < 50; i++) await tg.client.check(checkRequest({ path: '/staff/x', headers: { authorization: `Bearer bad-${i}` } }));
    const denialLines = () => tg!.logs.filter((l) => l.msg === 'check denied');
    expect(denialLines()).toHaveLength(5);
    expect(await metric(tg, 'tollgate_log_denials_skipped_total')).toBe(45);
    tg.clock.advance(1000);
    await tg.client.check(checkRequest({ path: '/staff/after' }));
    expect(denialLines()[5]).toMatchObject({ path: '/staff/after', denialLinesSkipped: 45 });
  });

  it.each([
    [{ sink: 'file' }, 'decisionLog.path: sink: file needs a path'],
    [{ sink: 'stdout', path: 'x' }, 'decisionLog.path: path goes with sink: file'],
    [{ sampleAllowed: 2 }, 'decisionLog.sampleAllowed: sampleAllowed must be from 0 to 1'],
    [{ mask: ['a..b'] }, 'decisionLog.mask[0]: claim path "a..b" has an empty part'],
    [{ maxQueue: 0 }, 'decisionLog.maxQueue:'],
    [{ sink: 'syslog' }, 'decisionLog.sink: sink must be "stdout" or "file"'],
  ])('refuses decisionLog %j', (decisionLog, message) => {
    expect(() => parseConfig(JSON.stringify({ decisionLog }), '/tmp')).toThrow(message);
  });
});
