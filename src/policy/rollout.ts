/**
 * Gradual enforcement of one rule: `rollout: { enforcePercent }` enforces the rule for that share of
 * subjects and runs it as dry run for the rest. A subject's arm comes from a hash of the rule id and
 * the subject alone (no random draw, no process state), so it is the same on every replica and after
 * every restart, and raising the percentage only moves subjects from shadow to enforced.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const rolloutSchema = z.strictObject(
  {
    enforcePercent: z
      .number({ error: 'enforcePercent must be a number from 0 to 100' })
      .min(0, { error: 'enforcePercent must be a number from 0 to 100' })
      .max(100, { error: 'enforcePercent must be a number from 0 to 100' }),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key(s) ${issue.keys.join(', ')} in rollout; allowed keys: enforcePercent`
        : 'rollout must be a mapping: rollout: { enforcePercent: 10 }',
  },
);

export type RolloutConfig = z.infer<typeof rolloutSchema>;

/** `enforced`: the rule's denials are answered; `shadow`: they are reported and the request allowed. */
export type RolloutArm = 'enforced' | 'shadow';

export interface Rollout {
  readonly enforcePercent: number;
  armFor(subject: string | undefined): RolloutArm;
}

/** 2^32: the hash's first four bytes read as a fraction of this. */
const BUCKETS = 0x1_0000_0000;

export function compileRollout(ruleId: string, config: RolloutConfig): Rollout {
  const { enforcePercent } = config;
  return {
    enforcePercent,
    armFor(subject) {
      if (enforcePercent <= 0) return 'shadow';
      if (enforcePercent >= 100) return 'enforced';
      // No subject to place: deny by default, the rule is enforced.
      if (subject === undefined) return 'enforced';
      // The rule id is part of the input, so each rule's rollout picks its own share of subjects.
      const digest = createHash('sha256').update(ruleId).update('\0').update(subject).digest();
      return (digest.readUInt32BE(0) / BUCKETS) * 100 < enforcePercent ? 'enforced' : 'shadow';
    },
  };
}

/** The subject a rollout places: the token's `sub`, else the calling workload's identity. */
export function rolloutSubject(claims: Readonly<Record<string, unknown>> | undefined, principal: string | undefined): string | undefined {
  const sub = claims?.sub;
  if (typeof sub === 'string' && sub !== '') return sub;
  if (typeof sub === 'number') return String(sub);
  return principal || undefined;
}
