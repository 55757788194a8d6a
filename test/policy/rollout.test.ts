import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { compilePolicy, rulesSchema, type Decision, type Policy } from '../../src/policy/index.js';
import { request } from './helpers.js';

/** One rule needing the admin role, with the given rollout (or dryRun), parsed like a config file. */
function policy(extra: Record<string, unknown>, options: { dryRun?: boolean } = {}): Policy {
  const rules = rulesSchema.parse([
    { id: 'grades-v2', match: { paths: ['/grades/**'] }, require: { roles: { anyOf: ['admin'] } }, ...extra },
  ]);
  return compilePolicy(rules, { defaultDecision: 'deny', ...options });
}

const asUser = (p: Policy, sub: unknown, roles: string[] = []): Decision =>
  p.authorize(request('GET', '/grades/1'), { provider: 'idp', claims: { sub, roles } });
const SUBJECTS = Array.from({ length: 2000 }, (_, i) => `user-${i}`);

describe('rollout: { enforcePercent }', () => {
  it('places subjects by a hash pinned across versions, replicas and restarts (sha256 of rule id and sub)', () => {
    // Pinned: a change of hash would move live subjects between arms at an upgrade.
    const p = policy({ rollout: { enforcePercent: 50 } });
    const arms = Object.fromEntries(
      ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'].map((s) => [s, asUser(p, s).rollout?.arm]),
    );
    expect(arms).toEqual({
      alice: 'enforced',
      bob: 'shadow',
      carol: 'shadow',
      dave: 'enforced',
      erin: 'enforced',
      frank: 'enforced',
      grace: 'enforced',
      heidi: 'shadow',
    });
    // Another compile of the same config (a replica, a restart) places every subject the same way.
    const replica = policy({ rollout: { enforcePercent: 50 } });
    expect(SUBJECTS.every((s) => asUser(p, s).rollout?.arm === asUser(replica, s).rollout?.arm)).toBe(true);
  });

  it('enforces the share of subjects the percentage says, and raising it only moves subjects to enforced', () => {
    const at = (percent: number) =>
      new Set(SUBJECTS.filter((s) => asUser(policy({ rollout: { enforcePercent: percent } }), s).rollout?.arm === 'enforced'));
    const ten = at(10);
    const thirty = at(30);
    expect(ten.size / SUBJECTS.length).toBeGreaterThan(0.08);
    expect(ten.size / SUBJECTS.length).toBeLessThan(0.12);
    expect(thirty.size / SUBJECTS.length).toBeGreaterThan(0.27);
    expect(thirty.size / SUBJECTS.length).toBeLessThan(0.33);
    expect([...ten].every((s) => thirty.has(s))).toBe(true);
  });

  it('enforced arm denies, shadow arm allows with the would-deny reported; a holder of the role is allowed in both', () => {
    const p = policy({ rollout: { enforcePercent: 50 } });
    expect(asUser(p, 'alice')).toMatchObject({
      allowed: false,
      reason: 'missing_role',
      status: 'permission_denied',
      rollout: { arm: 'enforced', enforcePercent: 50 },
    });
    expect(asUser(p, 'bob')).toMatchObject({
      allowed: true,
      reason: 'dry_run',
      dryRun: { wouldDeny: true, reason: 'missing_role' },
      rollout: { arm: 'shadow' },
    });
    expect(asUser(p, 'alice', ['admin'])).toMatchObject({ allowed: true, reason: 'allowed', rollout: { arm: 'enforced' } });
    expect(asUser(p, 'bob', ['admin'])).toMatchObject({ allowed: true, reason: 'allowed', rollout: { arm: 'shadow' } });
    expect(asUser(p, 'bob', ['admin']).dryRun).toBeUndefined();
  });

  it('0 is dryRun: true and 100 is enforcing, for every subject', () => {
    const zero = policy({ rollout: { enforcePercent: 0 } });
    const dry = policy({ dryRun: true });
    const hundred = policy({ rollout: { enforcePercent: 100 } });
    const plain = policy({});
    for (const s of SUBJECTS.slice(0, 200)) {
      const { rollout: zeroArm, ...zeroDecision } = asUser(zero, s);
      expect(zeroArm?.arm).toBe('shadow');
      expect(zeroDecision).toEqual(asUser(dry, s));
      const { rollout: fullArm, ...fullDecision } = asUser(hundred, s);
      expect(fullArm?.arm).toBe('enforced');
      expect(fullDecision).toEqual(asUser(plain, s));
    }
  });

  it('without a token the peer principal is the subject; with neither the rule is enforced', () => {
    const rules = rulesSchema.parse([
      {
        id: 'webhook',
        match: { paths: ['/hook'] },
        require: { peer: { principals: ['spiffe://cluster.local/ns/billing/sa/app'] } },
        rollout: { enforcePercent: 50 },
      },
    ]);
    const p = compilePolicy(rules, { defaultDecision: 'deny' });
    const from = (principal?: string) => p.authorize(request('POST', '/hook', { principal }), null).rollout?.arm;
    const arms = new Set(Array.from({ length: 40 }, (_, i) => from(`spiffe://cluster.local/ns/apps/sa/a${i}`)));
    expect(arms).toEqual(new Set(['enforced', 'shadow']));
    expect(from('spiffe://cluster.local/ns/apps/sa/a4')).toBe('enforced');
    expect(from('spiffe://cluster.local/ns/apps/sa/a1')).toBe('shadow');
    expect(p.authorize(request('POST', '/hook'), null)).toMatchObject({
      allowed: false,
      reason: 'peer_not_allowed',
      rollout: { arm: 'enforced' },
    });
  });

  it('a numeric sub counts as its text; the global dry run still allows the enforced arm', () => {
    const p = policy({ rollout: { enforcePercent: 50 } });
    expect(SUBJECTS.slice(0, 50).every((_, i) => asUser(p, i).rollout?.arm === asUser(p, String(i)).rollout?.arm)).toBe(true);
    const globallyDry = policy({ rollout: { enforcePercent: 50 } }, { dryRun: true });
    expect(asUser(globallyDry, 'alice')).toMatchObject({ allowed: true, reason: 'dry_run', rollout: { arm: 'enforced' } });
  });

  it('explains the arm', () => {
    const p = policy({ rollout: { enforcePercent: 50 } });
    expect(p.authorize(request('GET', '/grades/1'), { provider: 'idp', claims: { sub: 'bob' } }, { explain: true }).explanation).toContain(
      'rollout: enforced for 50% of subjects; subject "bob" is in the shadow arm',
    );
  });

  it.each([
    [{ rollout: { enforcePercent: 101 } }, 'rollout.enforcePercent', 'enforcePercent must be a number from 0 to 100'],
    [{ rollout: { enforcePercent: '10' } }, 'rollout.enforcePercent', 'enforcePercent must be a number from 0 to 100'],
    [{ rollout: { enforcePercent: 5, percent: 10 } }, 'rollout', 'unknown key(s) percent in rollout; allowed keys: enforcePercent'],
    [{ rollout: { enforcePercent: 10 }, dryRun: true }, 'rollout', 'give dryRun or rollout, not both'],
  ])('refuses %j', (extra, field, message) => {
    const result = rulesSchema.safeParse([{ id: 'r', match: { paths: ['/x'] }, require: { authenticated: true }, ...extra }]);
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path.slice(1).join('.')).toBe(field);
    expect(issue.message).toContain(message);
  });
});

describe('rollout edges', () => {
  it('0 leaves even a request with no subject in the shadow arm; 100 enforces it', () => {
    const anonymous = (percent: number) => policy({ rollout: { enforcePercent: percent } }).authorize(request('GET', '/grades/1'), null);
    expect(anonymous(0)).toMatchObject({ allowed: true, reason: 'dry_run', rollout: { arm: 'shadow', enforcePercent: 0 } });
    expect(anonymous(100)).toMatchObject({ allowed: false, reason: 'authentication_required', rollout: { arm: 'enforced' } });
  });

  it('enforces the share [0, p): a subject whose bucket is exactly the percentage is in the shadow arm', () => {
    // The subject's bucket, computed as documented: the first four bytes of sha256(rule id, NUL, sub) as a fraction of 2^32.
    const bucket = createHash('sha256').update('grades-v2').update('\0').update('alice').digest().readUInt32BE(0) / 0x1_0000_0000;
    const exactly = bucket * 100;
    expect(asUser(policy({ rollout: { enforcePercent: exactly } }), 'alice').rollout?.arm).toBe('shadow');
    expect(asUser(policy({ rollout: { enforcePercent: Math.min(100, exactly + 1e-9) } }), 'alice').rollout?.arm).toBe('enforced');
  });

  it('an empty sub places the calling workload instead', () => {
    const rules = rulesSchema.parse([
      { id: 'r', match: { paths: ['/x'] }, require: { authenticated: true }, rollout: { enforcePercent: 50 } },
    ]);
    const explain = (principal?: string) =>
      compilePolicy(rules, { defaultDecision: 'deny' }).authorize(
        request('GET', '/x', { principal }),
        { provider: 'idp', claims: { sub: '' } },
        {
          explain: true,
        },
      ).explanation;
    expect(explain('spiffe://cluster.local/ns/a/sa/b')).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^rollout: enforced for 50% of subjects; subject "spiffe:\/\/cluster.local\/ns\/a\/sa\/b" is in the (enforced|shadow) arm$/,
        ),
      ]),
    );
    expect(explain()).toContain('rollout: enforced for 50% of subjects; no subject is in the enforced arm');
  });

  it.each([
    [5, 'rollout must be a mapping: rollout: { enforcePercent: 10 }'],
    [{ enforcePercent: 10, share: 1, arm: 'a' }, 'unknown key(s) share, arm in rollout; allowed keys: enforcePercent'],
    [{ enforcePercent: 101 }, 'enforcePercent must be a number from 0 to 100'],
    [{ enforcePercent: -1 }, 'enforcePercent must be a number from 0 to 100'],
    [{ enforcePercent: '10' }, 'enforcePercent must be a number from 0 to 100'],
  ])('refuses rollout %j, saying %s', (rollout, message) => {
    const result = rulesSchema.safeParse([{ id: 'r', match: { paths: ['/x'] }, require: { authenticated: true }, rollout }]);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual([message]);
  });
});
