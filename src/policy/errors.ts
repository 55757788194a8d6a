import { formatPath } from '../util/config-error.js';

/** A path inside one rule, e.g. `['match', 'paths', 0]`, printed as `match.paths[0]`. */
export type FieldPath = ReadonlyArray<string | number>;

/** Printed like every config field (util/config-error.ts). */
export const formatFieldPath: (field: FieldPath) => string = formatPath;

/**
 * A rule that cannot be compiled. Thrown at load time only, never per request. `field` is relative to
 * the rule so the config loader (and `rulesSchema`) can prefix it with `rules[i]`; `detail` says what
 * is wrong and how to fix it.
 */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';

  constructor(
    readonly ruleId: string | null,
    readonly field: FieldPath,
    readonly detail: string,
  ) {
    const where = field.length > 0 ? `${formatFieldPath(field)}: ` : '';
    super(`${ruleId === null ? 'policy' : `rule '${ruleId}'`}: ${where}${detail}`);
  }
}
