/**
 * `tollgate test`: runs policy test cases offline through the server's own pipeline (the same
 * `decide` as `serve` and `tollgate check`) and reports rule coverage.
 *
 *   tollgate test [--config FILE] [--min-coverage N] [--junit FILE] CASES.yaml...
 *
 * Exit codes: 0 every case passed (and coverage is at least --min-coverage), 1 a case failed or
 * coverage is below the minimum, 2 bad input (a case file error names the file, the case and the field).
 */
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { EXIT_DENIED, EXIT_OK, EXIT_USAGE, UsageError, type CliIo } from './io.js';
import { decideOffline, offlineRuntime, OfflineInputError, type OfflineDecision } from './offline.js';
import { CaseFileError, loadCaseFile, type CaseFile, type TestCase } from './test-cases.js';
import {
  caseLines,
  coverageLines,
  coverageOf,
  coveredPercent,
  formatPercent,
  writeJUnit,
  type CaseResult,
  type Coverage,
} from './test-report.js';

export const OPTIONS = {
  config: { type: 'string' },
  'min-coverage': { type: 'string', default: '0' },
  junit: { type: 'string' },
} as const;

interface TestInput {
  config?: string;
  minCoverage: number;
  junit?: string;
  files: string[];
}

function parseInput(argv: string[]): TestInput {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: OPTIONS,
  });
  if (positionals.length === 0) throw new UsageError('name at least one case file');
  const minCoverage = Number(values['min-coverage']);
  if (!/^\d+(\.\d+)?$/.test(values['min-coverage']) || minCoverage > 100)
    throw new UsageError(`--min-coverage must be a percentage from 0 to 100, e.g. --min-coverage 90`);
  return { config: values.config, minCoverage, junit: values.junit, files: positionals };
}

export async function runTest(argv: string[], io: CliIo): Promise<number> {
  const input = parseInput(argv);
  let files: CaseFile[];
  try {
    files = input.files.map(loadCaseFile);
  } catch (err) {
    if (!(err instanceof CaseFileError)) throw err;
    io.stderr(err.message);
    return EXIT_USAGE;
  }

  // Cases run against the config they name; --config overrides every file's own.
  const byConfig = new Map<string, CaseFile[]>();
  for (const file of files) {
    const config = input.config ?? file.config;
    if (config === undefined) {
      io.stderr(`${file.path}: no config to test against: give --config FILE, or config: FILE in the case file`);
      return EXIT_USAGE;
    }
    byConfig.set(config, [...(byConfig.get(config) ?? []), file]);
  }

  const results: CaseResult[] = [];
  const coverages: Coverage[] = [];
  for (const [configPath, group] of byConfig) {
    const { config } = loadConfigFile(configPath);
    const runtime = offlineRuntime(config);
    try {
      // Keys are loaded only when a case carries a real token to verify.
      if (group.some((f) => f.cases.some((c) => c.token !== undefined))) await runtime.start();
      const groupResults: CaseResult[] = [];
      for (const file of group) {
        for (const [index, testCase] of file.cases.entries()) {
          let decided: OfflineDecision;
          try {
            decided = await decideOffline(runtime, requestOf(testCase), (header, claim) =>
              io.stderr(`warning: ${file.path}: ${testCase.name}: claim ${claim} is not a safe value for header ${header}`),
            );
          } catch (err) {
            if (!(err instanceof OfflineInputError)) throw err;
            io.stderr(`${file.path}: cases[${index}] "${testCase.name}": ${err.field}: ${err.message}`);
            return EXIT_USAGE;
          }
          groupResults.push(judge(file.path, testCase, decided));
        }
      }
      results.push(...groupResults);
      coverages.push(coverageOf(configPath, ruleIdsOf(config), groupResults));
    } finally {
      runtime.stop();
    }
  }

  for (const result of results) io.stdout(caseLines(result).join('\n'));
  io.stdout('');
  for (const coverage of coverages) io.stdout(coverageLines(coverage).join('\n'));
  const failed = results.filter((r) => r.differences.length > 0).length;
  io.stdout(`cases: ${results.length - failed} passed, ${failed} failed`);
  const percent = coveredPercent(coverages);
  const coverageShort = percent < input.minCoverage;
  const shortfall = coverageShort ? `rule coverage ${formatPercent(percent)} is below --min-coverage ${input.minCoverage}%` : undefined;
  if (shortfall !== undefined) io.stdout(shortfall);
  if (input.junit !== undefined) writeJUnit(input.junit, results, shortfall);
  return failed > 0 || coverageShort ? EXIT_DENIED : EXIT_OK;
}

function ruleIdsOf(config: Config): string[] {
  return config.rules.map((r) => r.id);
}

function requestOf(testCase: TestCase) {
  const { method, path, host, headers, principal } = testCase.request;
  const view = {
    method: method.toUpperCase(),
    host,
    path,
    headers: new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), Array.isArray(value) ? value : [value]])),
    principal,
  };
  return { view, token: testCase.token, claims: testCase.claims, provider: testCase.provider };
}

/** What a case can state about a decision, as the server would answer it. */
interface Observed {
  decision: 'allow' | 'deny';
  rule: string | null;
  /** `allowed`, `dry_run` or `no_matching_rule` on allow; the denial body's reason on deny. */
  reason: string;
  /** HTTP status of a denial. */
  status?: number;
  headers: ReadonlyMap<string, string>;
  /** The rollout arm, when the deciding rule has a rollout. */
  arm?: string;
}

function observe(decided: OfflineDecision): Observed {
  const { outcome, decision, response } = decided;
  const rule = decision?.ruleId ?? ('ruleId' in outcome ? (outcome.ruleId ?? null) : null);
  if (outcome.kind === 'allow') {
    const headers = new Map((response.ok_response?.headers ?? []).map((h) => [h.header?.key ?? '', h.header?.value ?? '']));
    return { decision: 'allow', rule, reason: decision?.reason ?? 'allowed', headers, arm: decision?.rollout?.arm };
  }
  return {
    decision: 'deny',
    rule,
    reason: 'reason' in outcome ? outcome.reason : 'internal_error',
    status: Number(response.denied_response?.status?.code),
    headers: new Map(),
    arm: decision?.rollout?.arm,
  };
}

function judge(file: string, testCase: TestCase, decided: OfflineDecision): CaseResult {
  const seen = observe(decided);
  const want = testCase.expect;
  const differences: string[] = [];
  const compare = (field: string, expected: unknown, actual: unknown) => {
    if (expected !== undefined && expected !== actual) differences.push(`${field}: expected ${show(expected)}, got ${show(actual)}`);
  };
  compare('decision', want.decision, seen.decision);
  compare('rule', want.rule, seen.rule);
  compare('reason', want.reason, seen.reason);
  compare('status', want.status, seen.status);
  compare('arm', want.arm, seen.arm ?? null);
  for (const [name, value] of Object.entries(want.headers ?? {}))
    compare(`headers.${name.toLowerCase()}`, value, seen.headers.get(name.toLowerCase()) ?? null);
  const summary = `${seen.decision}${seen.status ? ` ${seen.status}` : ''}, rule ${seen.rule ?? '(none)'}, ${seen.reason}${seen.arm ? `, ${seen.arm} arm` : ''}`;
  const conditions = (decided.decision?.explanation ?? []).filter((line) => /^(anyOf\[\d+\]: )?when: /.test(line));
  return { file, name: testCase.name, summary, differences, rule: seen.rule, conditions };
}

function show(value: unknown): string {
  return value === null ? 'none' : value === undefined ? 'nothing' : JSON.stringify(value);
}
