import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCheck } from '../../src/cli/check.js';
import { ConfigError } from '../../src/util/config-error.js';
import { UsageError } from '../../src/cli/io.js';
import { EDTECH_CONFIG } from '../policy/helpers.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';

/** Runs the command as the CLI does: usage and config errors become exit code 2 with the message on stderr. */
async function check(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: (s: string) => (stdout += `${s}\n`), stderr: (s: string) => (stderr += `${s}\n`) };
  try {
    const code = await runCheck(argv, io);
    return { code, stdout, stderr };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      return { code: 2, stdout, stderr: stderr + (err as Error).message };
    }
    throw err;
  }
}

const PROVIDER =
  'providers: [{ name: idp, issuer: "https://idp.example.com", audiences: [api], algorithms: [ES256], jwks: { uri: "https://idp.example.com/jwks" } }]\n';

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-check-'));
  const path = join(dir, 'tollgate.yaml');
  writeFileSync(path, text);
  return path;
}

/** A config whose one provider (issuer https://idp.example.com) verifies with a new key's JWKS file, and `rules`. */
async function withKeyFile(rules: string): Promise<{ key: TestKey; path: string }> {
  const key = await testKey('ES256');
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-check-'));
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks(key)));
  const path = join(dir, 'tollgate.yaml');
  writeFileSync(
    path,
    `providers: [{ name: idp, issuer: "https://idp.example.com", audiences: [api], algorithms: [ES256], jwks: { file: jwks.json } }]\n${rules}`,
  );
  return { key, path };
}

const TEACHER = JSON.stringify({ sub: 't1', roles: { course: { teacher: ['123'], ta: ['246'] } } });

describe('tollgate check', () => {
  it('shows a when condition, its result and the false clause, never the claim values', async () => {
    const config = configFile(`${PROVIDER}rules:
  - id: tenant
    match: { paths: ["/t/{tenantId}/**"] }
    require: { authenticated: true, when: "claims.tenant == params.tenantId && request.method == 'GET'" }
`);
    const denied = await check(
      '--config',
      config,
      '--path',
      '/t/acme/orders',
      '--claims',
      JSON.stringify({ sub: 'u', tenant: 'globex-secret' }),
    );
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain(
      "when: claims.tenant == params.tenantId && request.method == 'GET' is false (claims.tenant == params.tenantId is false)",
    );
    expect(denied.stdout).toContain('condition_not_met');
    expect(denied.stdout).not.toContain('globex-secret');
    const allowed = await check('--config', config, '--path', '/t/acme/orders', '--claims', JSON.stringify({ sub: 'u', tenant: 'acme' }));
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain("when: claims.tenant == params.tenantId && request.method == 'GET' is true");
  });

  it('refuses a condition that does not compile: exit 2 naming rules[i].require.when', async () => {
    const config = configFile(`${PROVIDER}rules:
  - id: bad
    match: { paths: ["/x"] }
    require: { when: "claims.sub ==" }
`);
    const { code, stderr } = await check('--config', config, '--path', '/x');
    expect(code).toBe(2);
    expect(stderr).toMatch(/rules\[0\]\.require\.when: .*not a valid condition: Unexpected token/);
  });

  it('allows and explains, exit 0', async () => {
    const { code, stdout, stderr } = await check(
      '--config',
      EDTECH_CONFIG,
      '--method',
      'GET',
      '--path',
      '/courses/123/grades',
      '--claims',
      TEACHER,
    );
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain('claims: taken as verified (from --claims)');
    expect(stdout).toContain('decision: allow\nrule: course-grades-read\nreason: allowed\nwhy:\n');
    expect(stdout).toContain('headers injected:\n  x-user-id: t1\n');
    expect(stdout).toContain("  rule 'course-grades-read' matches (courseId=123)");
    expect(stdout).toContain('  contextRole: the token has role teacher for course "123"');
  });

  it('denies the cross-course request with the rule and the reason, exit 1', async () => {
    const { code, stdout } = await check('--config', EDTECH_CONFIG, '--path', '/courses/999/grades', '--claims', TEACHER);
    expect(code).toBe(1);
    expect(stdout).toContain('decision: deny (HTTP 403, gRPC status 7, context_role_mismatch)\nrule: course-grades-read\n');
    expect(stdout).toContain('contextRole: the token has none of teacher, ta for course "999"');
  });

  it('without claims a user rule answers 401', async () => {
    const { code, stdout } = await check('--config', EDTECH_CONFIG, '--path', '/me');
    expect(code).toBe(1);
    expect(stdout).toContain('decision: deny (HTTP 401, gRPC status 16, missing_token)');
    expect(stdout).toContain('response header: www-authenticate: Bearer realm="tollgate"');
    expect(stdout).not.toContain('claims:');
  });

  it('takes the workload identity, host, headers and provider', async () => {
    const payments = await check(
      '--config',
      EDTECH_CONFIG,
      '--method',
      'POST',
      '--path',
      '/payments/refund',
      '--claims',
      '{"sub":"u"}',
      '--principal',
      'spiffe://cluster.local/ns/edge/sa/gateway',
    );
    expect(payments.code).toBe(0);
    const metrics = await check(
      '--config',
      EDTECH_CONFIG,
      '--host',
      'n1.internal.example.com',
      '--path',
      '/metrics',
      '--principal',
      'spiffe://cluster.local/ns/monitoring/sa/prometheus',
    );
    expect(metrics.code).toBe(0);
    const beta = await check(
      '--config',
      EDTECH_CONFIG,
      '--path',
      '/beta/x',
      '--header',
      'X-Tenant: a',
      '--claims',
      '{"https://example.com/beta":true}',
    );
    expect(beta.code).toBe(0);
    const admin = await check(
      '--config',
      EDTECH_CONFIG,
      '--path',
      '/admin/users',
      '--provider',
      'idp',
      '--claims',
      JSON.stringify({ realm_access: { roles: ['admin'] }, scope: 'admin:write', email_verified: true, groups: ['staff'], tier: 'gold' }),
    );
    expect(admin.stdout).toContain('rule: admin');
    expect(admin.code).toBe(0);
  });

  it('reports an invalid path', async () => {
    const { code, stdout } = await check('--config', EDTECH_CONFIG, '--path', '/docs/..%2F..%2Fadmin');
    expect(code).toBe(1);
    expect(stdout).toContain('decision: deny (HTTP 403, gRPC status 7, invalid_path)\nrule: (none)\n');
    expect(stdout).toContain('path rejected before any rule: encoded "/" (%2F) in path');
  });

  it('prints a dry-run would-deny and exits 0', async () => {
    const path = configFile(`${PROVIDER}
rules:
  - { id: admin, match: { paths: ["/admin/**"] }, require: { roles: { anyOf: [admin] } }, dryRun: true }
`);
    const { code, stdout } = await check('--config', path, '--path', '/admin', '--claims', '{}');
    expect(code).toBe(0);
    expect(stdout).toContain('decision: allow (dry run: would deny, missing_role)\nrule: admin\nreason: dry_run\n');
  });

  it('honours defaultDecision and global dryRun from the file', async () => {
    const allowAll = configFile(`${PROVIDER}rules: []\ndefaultDecision: allow\n`);
    expect((await check('--config', allowAll, '--path', '/x')).code).toBe(0);
    const dry = configFile(`${PROVIDER}rules: []\ndryRun: true\n`);
    const { code, stdout } = await check('--config', dry, '--path', '/x');
    expect(code).toBe(0);
    expect(stdout).toContain('would deny, no_matching_rule');
  });

  describe('bad input exits 2', () => {
    it.each([
      [['--path', '/x'], /--config FILE is required/],
      [['--config', EDTECH_CONFIG], /--path is required/],
      [['--config', EDTECH_CONFIG, '--path', '/x', '--claims', '[1]'], /--claims must be a JSON object/],
      [['--config', EDTECH_CONFIG, '--path', '/x', '--claims', '{nope'], /--claims must be a JSON object/],
      [['--config', EDTECH_CONFIG, '--path', '/x', '--header', 'novalue'], /write it as "name: value"/],
      [['--config', EDTECH_CONFIG, '--path', '/x', '--token', 'a.b.c', '--claims', '{}'], /give --token or --claims, not both/],
      [['--config', EDTECH_CONFIG, '--path', '/x', '--provider', 'idp'], /--provider goes with --claims or --token/],
      [['--config', EDTECH_CONFIG, '--path', '/x', '--bogus'], /Unknown option '--bogus'/],
    ])('%j', async (argv, message) => {
      const { code, stdout, stderr } = await check(...argv);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
    });

    it('a missing config file', async () => {
      const { code, stderr } = await check('--config', '/nonexistent/tollgate.yaml', '--path', '/x');
      expect(code).toBe(2);
      expect(stderr).toBe('config: cannot read /nonexistent/tollgate.yaml: ENOENT');
    });

    it('a broken rule names the field and the fix', async () => {
      const path = configFile(`${PROVIDER}
rules:
  - { id: grades, match: { paths: ["/courses/{courseId/grades"] }, require: { authenticated: true } }
  - { id: open, match: { paths: ["/x"] }, require: { anonymous: true, roles: { anyOf: [a] } } }
defaultDecision: maybe
`);
      const { code, stderr } = await check('--config', path, '--path', '/x');
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toEqual([
        'config: rules[0].match.paths[0]: "/courses/{courseId/grades": "{courseId" is not a parameter; a parameter fills a whole segment and is closed, e.g. /files/{name}',
        'config: rules[1].require.anonymous: anonymous: true opens the route and cannot be combined with roles; remove anonymous, or the other keys',
        'config: defaultDecision: defaultDecision must be "deny" or "allow"',
      ]);
    });

    it('invalid YAML and duplicate keys', async () => {
      const { code, stderr } = await check('--config', configFile('rules: [\n'), '--path', '/x');
      expect(code).toBe(2);
      expect(stderr).toMatch(/^config: YAML: /);
      expect((await check('--config', configFile('rules: []\nrules: []\n'), '--path', '/x')).stderr).toMatch(
        /config: YAML: duplicated mapping key at line 2, column 1/,
      );
    });
  });

  it('verifies --token against the configured keys, and explains a refused token', async () => {
    const { key, path } = await withKeyFile(
      'rules: [{ id: grades, match: { paths: ["/courses/{courseId}/grades"] }, require: { contextRole: { context: course, id: "{courseId}", anyOf: [teacher] } } }]\n',
    );
    const token = await mint('https://idp.example.com', 'api', { key, claims: { sub: 'alice', roles: { course: { teacher: ['123'] } } } });
    const allowed = await check('--config', path, '--path', '/courses/123/grades', '--token', token, '--header', 'x-user-id: forged');
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain('headers injected:\n  x-user-id: alice\n');
    expect(allowed.stdout).toContain('headers removed: authorization\n');
    const denied = await check('--config', path, '--path', '/courses/999/grades', '--token', token);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain('context_role_mismatch');
    const forged = await check('--config', path, '--path', '/courses/123/grades', '--token', `${token.slice(0, -6)}AAAAAA`);
    expect(forged.code).toBe(1);
    expect(forged.stdout).toContain('decision: deny (HTTP 401, gRPC status 16, invalid_signature)');
    expect(forged.stdout).not.toContain(token);
  });

  it('explains a sender-constrained token it cannot accept offline (no metrics to count it in)', async () => {
    const { key, path } = await withKeyFile('rules: [{ id: api, match: { paths: ["/**"] }, require: { authenticated: true } }]\n');
    const token = await mint('https://idp.example.com', 'api', { key, claims: { sub: 'alice', cnf: { jkt: 'thumbprint' } } });
    const result = await check('--config', path, '--path', '/x', '--token', token);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('dpop_required');
  });
});
