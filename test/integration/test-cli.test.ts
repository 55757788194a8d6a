import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { runTest } from '../../src/cli/test.js';
import { ConfigError } from '../../src/util/config-error.js';
import { UsageError } from '../../src/cli/io.js';
import { EDTECH_CONFIG } from '../policy/helpers.js';
import { jwks, mint, testKey } from '../helpers/keys.js';

const REPO = join(import.meta.dirname, '../..');
const CLI = join(REPO, 'dist/cli.js');
const EXAMPLE_CASES = join(REPO, 'examples/default/tollgate.test.yaml');

/** Runs the command as the CLI does: usage and config errors become exit code 2 with the message on stderr. */
async function test(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: (s: string) => (stdout += `${s}\n`), stderr: (s: string) => (stderr += `${s}\n`) };
  try {
    return { code: await runTest(argv, io), stdout, stderr };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      return { code: 2, stdout, stderr: stderr + (err as Error).message };
    }
    throw err;
  }
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tollgate-test-cli-'));
}

function caseFile(text: string, dir = tempDir()): string {
  const path = join(dir, 'cases.yaml');
  writeFileSync(path, text);
  return path;
}

const TEACHER = '{ sub: t1, roles: { course: { teacher: ["123"], ta: ["246"] } } }';

describe('tollgate test', () => {
  it("runs the example config's own case file with every rule reached (the built CLI, as CI runs it)", () => {
    const run = spawnSync(process.execPath, [CLI, 'test', '--min-coverage', '100', EXAMPLE_CASES], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^PASS {2}.*tollgate\.test\.yaml: teacher reads own course {2}\(allow, rule course-grades, allowed\)$/m);
    expect(run.stdout).toContain('4 of 4 rules reached (100%)');
    // The deciding rule's condition is shown with its result.
    expect(run.stdout).toMatch(
      /^PASS {2}.*another user's profile is refused \(object-level\) {2}\(deny 403, rule own-profile, condition_not_met\)\n {6}when: claims\.sub == params\.userId is false$/m,
    );
    expect(run.stdout).toMatch(/^cases: \d+ passed, 0 failed$/m);
  });

  it('reports each failure with its difference, exit 1', async () => {
    const path = caseFile(`cases:
  - name: teacher reads grades
    request: { path: /courses/123/grades }
    claims: ${TEACHER}
    expect: { decision: allow, rule: course-grades-read, headers: { x-user-id: t1 } }
  - name: wrong expectations
    request: { method: get, path: /courses/999/grades }
    claims: ${TEACHER}
    expect: { decision: allow, rule: course-material, reason: allowed, headers: { x-user-id: t1 } }
  - name: wrong status and reason
    request: { path: /me }
    expect: { decision: deny, reason: missing_role, status: 403 }
  - name: wrong header
    request: { path: /me }
    claims: { sub: u1 }
    expect: { decision: allow, headers: { x-user-id: u2, x-user-roles: null } }
`);
    const { code, stdout } = await test('--config', EDTECH_CONFIG, path);
    expect(code).toBe(1);
    expect(stdout).toContain(`PASS  ${path}: teacher reads grades  (allow, rule course-grades-read, allowed)\n`);
    expect(stdout).toContain(
      `FAIL  ${path}: wrong expectations  (deny 403, rule course-grades-read, context_role_mismatch)\n` +
        '      decision: expected "allow", got "deny"\n' +
        '      rule: expected "course-material", got "course-grades-read"\n' +
        '      reason: expected "allowed", got "context_role_mismatch"\n' +
        '      headers.x-user-id: expected "t1", got none\n',
    );
    expect(stdout).toContain(
      `FAIL  ${path}: wrong status and reason  (deny 401, rule profile, missing_token)\n` +
        '      reason: expected "missing_role", got "missing_token"\n' +
        '      status: expected 403, got 401\n',
    );
    expect(stdout).toContain(
      `FAIL  ${path}: wrong header  (allow, rule profile, allowed)\n      headers.x-user-id: expected "u2", got "u1"\n`,
    );
    expect(stdout).toContain('cases: 1 passed, 3 failed\n');
  });

  it('reports rule coverage: cases per rule and the rules no case reaches; --min-coverage fails below', async () => {
    const path = caseFile(`cases:
  - { name: health, request: { path: /healthz }, expect: { decision: allow, rule: health } }
  - { name: docs, request: { path: /docs/a }, expect: { decision: allow, rule: docs } }
  - { name: docs again, request: { path: /docs/b }, expect: { decision: allow, rule: docs } }
  - { name: nothing matches, request: { path: /nowhere }, claims: { sub: u }, expect: { decision: deny, rule: null, reason: no_matching_rule, status: 403 } }
`);
    const { code, stdout } = await test('--config', EDTECH_CONFIG, path);
    expect(code).toBe(0);
    expect(stdout).toContain(`rule coverage for ${EDTECH_CONFIG}: 2 of 13 rules reached (15.38%)\n`);
    expect(stdout).toContain('\n  health               1 case\n  docs                 2 cases\n  course-grades-read   0 cases\n');
    expect(stdout).toContain(
      'rules no case reaches: course-grades-read, course-grades-write, course-material, payments, payments-webhook, admin, reports, tenant-beta, profile, internal-metrics, public-catalog\n',
    );
    expect(stdout).toContain('cases: 4 passed, 0 failed\n');

    const strict = await test('--config', EDTECH_CONFIG, '--min-coverage', '16', path);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('rule coverage 15.38% is below --min-coverage 16%');
    expect((await test('--config', EDTECH_CONFIG, '--min-coverage', '15', path)).code).toBe(0);
  });

  it('writes JUnit XML: one suite per file, a failure carrying the difference', async () => {
    const dir = tempDir();
    const path = caseFile(
      `config: ${EDTECH_CONFIG}
cases:
  - { name: health, request: { path: /healthz }, expect: { decision: allow } }
  - { name: "admin <needs> a role & scope", request: { path: /admin/x }, claims: { sub: u }, expect: { decision: allow } }
`,
      dir,
    );
    const junit = join(dir, 'report.xml');
    const { code } = await test('--junit', junit, path);
    expect(code).toBe(1);
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(junit, 'utf8')) as {
      testsuites: {
        testsuite: {
          name: string;
          tests: string;
          failures: string;
          testcase: Array<{ name: string; classname: string; failure?: { message: string } }>;
        };
      };
    };
    const suite = xml.testsuites.testsuite;
    expect(suite).toMatchObject({ name: path, tests: '2', failures: '1' });
    expect(suite.testcase[0]).toEqual({ name: 'health', classname: path });
    expect(suite.testcase[1]!.name).toBe('admin <needs> a role & scope');
    expect(suite.testcase[1]!.failure!.message).toBe('decision: expected "allow", got "deny" (deny 403, rule admin, missing_scope)');
  });

  it('puts a coverage shortfall in the JUnit file too, where CI reads it', async () => {
    const dir = tempDir();
    const path = caseFile(
      `config: ${EDTECH_CONFIG}
cases:
  - { name: health, request: { path: /healthz }, expect: { decision: allow } }
`,
      dir,
    );
    const junit = join(dir, 'report.xml');
    const { code, stdout } = await test('--min-coverage', '100', '--junit', junit, path);
    expect(code).toBe(1);
    expect(stdout).toContain('rule coverage 7.69% is below --min-coverage 100%');
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(junit, 'utf8')) as {
      testsuites: {
        failures: string;
        testsuite: Array<{ name: string; failures: string; testcase: { name: string; failure?: { message: string } } }>;
      };
    };
    expect(xml.testsuites.failures).toBe('1');
    const coverage = xml.testsuites.testsuite.find((s) => s.name === 'rule coverage');
    expect(coverage).toMatchObject({
      failures: '1',
      testcase: { name: '--min-coverage', failure: { message: 'rule coverage 7.69% is below --min-coverage 100%' } },
    });
  });

  it("verifies a case's token against the configured keys", async () => {
    const dir = tempDir();
    const key = await testKey('ES256');
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks(key)));
    writeFileSync(
      join(dir, 'tollgate.yaml'),
      'providers: [{ name: idp, issuer: "https://idp.example.com", audiences: [api], algorithms: [ES256], jwks: { file: jwks.json } }]\n' +
        'rules: [{ id: grades, match: { paths: ["/courses/{courseId}/grades"] }, require: { contextRole: { context: course, id: "{courseId}", anyOf: [teacher] } } }]\n',
    );
    const token = await mint('https://idp.example.com', 'api', { key, claims: { sub: 'alice', roles: { course: { teacher: ['123'] } } } });
    const other = await mint('https://idp.example.com', 'api', { key: await testKey('ES256'), claims: { sub: 'mallory' } });
    const path = caseFile(
      `config: tollgate.yaml
cases:
  - { name: own course, request: { path: /courses/123/grades }, token: "${token}", expect: { decision: allow, headers: { x-user-id: alice } } }
  - { name: other course, request: { path: /courses/9/grades }, token: "${token}", expect: { decision: deny, reason: context_role_mismatch, status: 403 } }
  - { name: unknown key, request: { path: /courses/123/grades }, token: "${other}", expect: { decision: deny, rule: null, reason: unknown_key, status: 401 } }
`,
      dir,
    );
    const { code, stdout } = await test(path);
    expect(stdout).toContain('cases: 3 passed, 0 failed');
    expect(code).toBe(0);
    expect(stdout).not.toContain(token);
  });

  describe('bad input exits 2, naming the file, the case and the field', () => {
    it.each([
      ['cases: []', ': cases: cases must list at least one case'],
      [
        'cases: [{ name: a, request: { path: /x }, expect: { decision: maybe } }]',
        ': cases[0] "a": expect.decision: decision must be "allow" or "deny"',
      ],
      ['cases: [{ name: a, request: { path: x }, expect: { decision: allow } }]', ': cases[0] "a": request.path: path must start with "/"'],
      [
        'cases: [{ name: a, request: { path: /x, verb: GET }, expect: { decision: allow } }]',
        ': cases[0] "a": request: unknown key(s) verb; allowed: method, path, host, headers, principal',
      ],
      [
        'cases: [{ name: a, request: { path: /x }, claims: {}, token: t.t.t, expect: { decision: allow } }]',
        ': cases[0] "a": token: give claims or token, not both',
      ],
      [
        'cases: [{ name: a, request: { path: /x }, expect: { decision: allow, status: 403 } }]',
        ': cases[0] "a": expect.status: status is for denials (401 or 403); an allowed request has none',
      ],
      [
        'cases: [{ name: a, request: { path: /x }, expect: { decision: deny, status: 404 } }]',
        ': cases[0] "a": expect.status: status must be 401 or 403',
      ],
      ['cases: [{ name: a, expect: { decision: deny } }]', ': cases[0] "a": request: request must be a mapping with at least path'],
      ['cases: [{ request: { path: /x }, expect: { decision: deny } }]', ': cases[0]: name: name must be a string'],
      [
        'cases:\n  - { name: a, request: { path: /x }, expect: { decision: deny } }\n  - { name: a, request: { path: /y }, expect: { decision: deny } }',
        ': cases[1] "a": name: duplicate case name (also cases[0])',
      ],
      [
        'cases: [{ name: a, request: { path: /x }, claims: { sub: u }, provider: nope, expect: { decision: deny } }]',
        ': cases[0] "a": provider: nope: no such provider (providers: idp)',
      ],
      ['cases: [\n', ': YAML: '],
    ])('%s', async (text, message) => {
      const path = caseFile(text);
      const { code, stdout, stderr } = await test('--config', EDTECH_CONFIG, path);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain(`${path}${message}`);
    });

    it('a case file without a config, a missing file, bad options', async () => {
      const path = caseFile('cases: [{ name: a, request: { path: /x }, expect: { decision: deny } }]');
      expect((await test(path)).stderr).toContain(
        `${path}: no config to test against: give --config FILE, or config: FILE in the case file`,
      );
      expect((await test('--config', EDTECH_CONFIG, '/nonexistent/cases.yaml')).stderr).toContain(
        '/nonexistent/cases.yaml: cannot read: ENOENT',
      );
      expect((await test('--config', EDTECH_CONFIG)).stderr).toContain('name at least one case file');
      expect((await test('--config', EDTECH_CONFIG, '--min-coverage', '101', path)).stderr).toContain(
        '--min-coverage must be a percentage from 0 to 100',
      );
      expect((await test('--config', '/nonexistent/tollgate.yaml', path)).stderr).toContain(
        'config: cannot read /nonexistent/tollgate.yaml: ENOENT',
      );
    });
  });
});
