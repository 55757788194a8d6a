import { describe, expect, it } from 'vitest';
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
