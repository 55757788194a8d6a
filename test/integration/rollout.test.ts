import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/cli/check.js';
import { runTest } from '../../src/cli/test.js';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const WORKLOAD = (name: string) => `spiffe://cluster.local/ns/apps/sa/${name}`;
// With enforcePercent 50 on rule "webhook", a4 is in the enforced arm, a1 and a2 in the shadow arm
// (pinned in test/policy/rollout.test.ts).
const rules = (enforcePercent: number) => [
  { id: 'webhook', match: { paths: ['/hook'] }, require: { peer: { principals: [WORKLOAD('billing')] } }, rollout: { enforcePercent } },
  { id: 'open', match: { paths: ['/open'] }, require: { anonymous: true } },
];
const base = {
  listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0' },
  shutdown: { notServingSeconds: 0, drainSeconds: 5 },
};

async function metricsText(tg: RunningTollgate): Promise<string> {
  return (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();
}

describe('gradual enforcement over gRPC', () => {
  let tg: RunningTollgate;
  const hook = (name: string) => tg.client.check(checkRequest({ method: 'POST', path: '/hook', principal: WORKLOAD(name) }));

  beforeAll(async () => {
    tg = await startTollgate({ rules: rules(50) });
  });
  afterAll(async () => tg?.close());

  it('denies the enforced arm, allows the shadow arm, and counts both by rule, arm and outcome', async () => {
    expect(deniedBody(await hook('a4'))).toMatchObject({ reason: 'peer_not_allowed', rule: 'webhook' });
    expect((await hook('a1')).status?.code).toBe(0);
    expect((await hook('a2')).status?.code).toBe(0);
    expect((await hook('billing')).status?.code).toBe(0); // allowed by the rule itself, in whichever arm
    expect((await tg.client.check(checkRequest({ path: '/open' }))).status?.code).toBe(0); // no rollout: not counted

    const text = await metricsText(tg);
    expect(text).toContain('tollgate_rollout_decisions_total{rule="webhook",arm="enforced",outcome="deny"} 1');
    expect(text).toContain('tollgate_rollout_decisions_total{rule="webhook",arm="shadow",outcome="deny"} 2');
    expect(text).toMatch(/tollgate_rollout_decisions_total\{rule="webhook",arm="(enforced|shadow)",outcome="allow"\} 1/);
    expect(text).not.toContain('rule="open",arm=');
    expect(text).toContain('tollgate_dry_run_denials_total{rule="webhook"} 2');
  });

  it('a config reload changes the percentage: at 100 every subject is enforced', async () => {
    writeFileSync(join(tg.dir, 'tollgate.yaml'), stringify({ ...base, rules: rules(100) }));
    await tg.app.reload();
    expect(deniedBody(await hook('a1'))).toMatchObject({ reason: 'peer_not_allowed', rule: 'webhook' });
    writeFileSync(join(tg.dir, 'tollgate.yaml'), stringify({ ...base, rules: rules(0) }));
    await tg.app.reload();
    expect((await hook('a4')).status?.code).toBe(0);
  });
});

describe('tollgate check and tollgate test say the arm', () => {
  const capture = () => {
    let out = '';
    return { io: { stdout: (s: string) => (out += `${s}\n`), stderr: (s: string) => (out += `${s}\n`) }, out: () => out };
  };
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-rollout-'));
  writeFileSync(join(dir, 'tollgate.yaml'), stringify({ rules: rules(50) }));

  it('check prints the arm for a subject', async () => {
    const shadow = capture();
    expect(
      await runCheck(
        ['--config', join(dir, 'tollgate.yaml'), '--method', 'POST', '--path', '/hook', '--principal', WORKLOAD('a1')],
        shadow.io,
      ),
    ).toBe(0);
    expect(shadow.out()).toContain(
      'decision: allow (dry run: would deny, peer_not_allowed)\nrule: webhook\nrollout: shadow arm (the rule is enforced for 50% of subjects)\n',
    );
    const enforced = capture();
    expect(
      await runCheck(
        ['--config', join(dir, 'tollgate.yaml'), '--method', 'POST', '--path', '/hook', '--principal', WORKLOAD('a4')],
        enforced.io,
      ),
    ).toBe(1);
    expect(enforced.out()).toContain('rule: webhook\nrollout: enforced arm (the rule is enforced for 50% of subjects)\n');
  });

  it('test prints the arm and checks expect.arm', async () => {
    const cases = join(dir, 'cases.yaml');
    writeFileSync(
      cases,
      `config: tollgate.yaml
cases:
  - { name: a1 is shadowed, request: { method: POST, path: /hook, principal: "${WORKLOAD('a1')}" }, expect: { decision: allow, reason: dry_run, arm: shadow } }
  - { name: a4 is enforced, request: { method: POST, path: /hook, principal: "${WORKLOAD('a4')}" }, expect: { decision: deny, status: 403, arm: shadow } }
`,
    );
    const run = capture();
    expect(await runTest([cases], run.io)).toBe(1);
    expect(run.out()).toContain(`PASS  ${cases}: a1 is shadowed  (allow, rule webhook, dry_run, shadow arm)\n`);
    expect(run.out()).toContain(
      `FAIL  ${cases}: a4 is enforced  (deny 403, rule webhook, peer_not_allowed, enforced arm)\n      arm: expected "shadow", got "enforced"\n`,
    );
  });
});
