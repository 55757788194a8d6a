/**
 * What `tollgate test` reports: one line per case, rule coverage per config, and JUnit XML for CI
 * systems.
 */
import junitModule, { type Builder } from 'junit-report-builder';

/**
 * The package is CommonJS (`module.exports = builder`) with ESM-style typings (`export default`): at
 * run time the default import is the builder itself, which the typings call `.default`.
 */
const junit = junitModule as unknown as Builder;

export interface CaseResult {
  file: string;
  name: string;
  /** One line: the decision, the rule and the reason (and the rollout arm). */
  summary: string;
  /** Empty when the case passed: `field: expected X, got Y`. */
  differences: string[];
  /** The rule that decided, or null when none did (no match, token refused, bad path). */
  rule: string | null;
  /** How the deciding rule's `when` conditions came out: `when: <expression> is true|false (...)`. */
  conditions: string[];
}

export interface Coverage {
  config: string;
  /** Every rule of the config, in order, with the number of cases it decided. */
  rules: Array<{ id: string; cases: number }>;
}

export function coverageOf(config: string, ruleIds: readonly string[], results: readonly CaseResult[]): Coverage {
  const counts = new Map(ruleIds.map((id) => [id, 0]));
  for (const r of results) if (r.rule !== null && counts.has(r.rule)) counts.set(r.rule, counts.get(r.rule)! + 1);
  return { config, rules: [...counts].map(([id, cases]) => ({ id, cases })) };
}

/** Rules reached over rules configured, as a percentage; a config without rules is fully covered. */
export function coveredPercent(coverages: readonly Coverage[]): number {
  const rules = coverages.flatMap((c) => c.rules);
  if (rules.length === 0) return 100;
  return (100 * rules.filter((r) => r.cases > 0).length) / rules.length;
}

export function caseLines(result: CaseResult): string[] {
  const head = `${result.differences.length === 0 ? 'PASS' : 'FAIL'}  ${result.file}: ${result.name}  (${result.summary})`;
  return [head, ...result.conditions.map((c) => `      ${c}`), ...result.differences.map((d) => `      ${d}`)];
}

export function coverageLines(coverage: Coverage): string[] {
  const reached = coverage.rules.filter((r) => r.cases > 0).length;
  const percent = coveredPercent([coverage]);
  const width = Math.max(0, ...coverage.rules.map((r) => r.id.length));
  const lines = [`rule coverage for ${coverage.config}: ${reached} of ${coverage.rules.length} rules reached (${formatPercent(percent)})`];
  for (const r of coverage.rules) lines.push(`  ${r.id.padEnd(width)}  ${r.cases} case${r.cases === 1 ? '' : 's'}`);
  const missed = coverage.rules.filter((r) => r.cases === 0).map((r) => r.id);
  lines.push(missed.length === 0 ? 'every rule is reached by a case' : `rules no case reaches: ${missed.join(', ')}`);
  return lines;
}

/** To two decimals, rounded: 2 of 3 is 66.67 %, never 66.6 %. */
export function formatPercent(percent: number): string {
  return `${Math.round(percent * 100) / 100}%`;
}

/**
 * JUnit XML: one testsuite per case file, one testcase per case, a failure carrying the differences.
 * A coverage short of --min-coverage fails the run, so CI tools that read only this file see it too:
 * a testsuite `rule coverage` whose one testcase fails with the shortfall.
 */
export function writeJUnit(path: string, results: readonly CaseResult[], coverageShortfall?: string): void {
  const builder = junit.newBuilder();
  const suites = new Map<string, ReturnType<typeof builder.testSuite>>();
  for (const result of results) {
    let suite = suites.get(result.file);
    if (!suite) {
      suite = builder.testSuite().name(result.file);
      suites.set(result.file, suite);
    }
    const testCase = suite.testCase().className(result.file).name(result.name);
    if (result.differences.length > 0) testCase.failure(`${result.differences.join('; ')} (${result.summary})`);
  }
  if (coverageShortfall !== undefined) {
    builder.testSuite().name('rule coverage').testCase().className('rule coverage').name('--min-coverage').failure(coverageShortfall);
  }
  builder.writeTo(path);
}
