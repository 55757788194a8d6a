import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCheck } from '../../src/cli/check.js';
import { runKeys } from '../../src/cli/keys.js';
import { runTest } from '../../src/cli/test.js';
import { UsageError } from '../../src/cli/io.js';
import { json, startIntrospectionEndpoint, type IntrospectionEndpoint } from './helpers.js';

/** Runs a command as the CLI would, collecting what it prints. */
async function run(
  command: (argv: string[], io: { stdout(t: string): void; stderr(t: string): void }) => Promise<number> | number,
  ...argv: string[]
) {
  const out: string[] = [];
  const code = await command(argv, { stdout: (t) => out.push(t), stderr: (t) => out.push(t) });
  return { code, stdout: out.join('\n') };
}

describe('tollgate check --token and tollgate test with opaque tokens and API keys', () => {
  let endpoint: IntrospectionEndpoint;
  let dir: string;
  let config: string;
  let apiKey: string;

  beforeAll(async () => {
    endpoint = await startIntrospectionEndpoint();
    endpoint.answer((_req, res, form) =>
      json(
        res,
        200,
        form.get('token') === 'good-opaque-token'
          ? { active: true, sub: 'u1', roles: ['teacher'], exp: Math.floor(Date.now() / 1000) + 60 }
          : { active: false },
      ),
    );
    dir = mkdtempSync(join(tmpdir(), 'tollgate-opaque-cli-'));
    const made = await run(runKeys, 'api-key', '--id', 'ci', '--sub', 'svc:ci');
    apiKey = /: (tg_\S+)/.exec(made.stdout)![1]!;
    writeFileSync(join(dir, 'keys.yaml'), made.stdout.split('\n').slice(2).join('\n'));
    writeFileSync(join(dir, 'secret'), 'secret');
    config = join(dir, 'tollgate.yaml');
    writeFileSync(
      config,
      stringify({
        providers: [
          { name: 'as', audiences: ['api'], introspection: { url: endpoint.url, clientId: 'tollgate', clientSecret: { file: 'secret' } } },
          { name: 'ci', apiKeys: { file: 'keys.yaml' }, fromHeaders: [{ name: 'x-api-key' }] },
        ],
        rules: [
          { id: 'grades', match: { paths: ['/grades'] }, require: { roles: { anyOf: ['teacher'] } } },
          { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
        ],
      }),
    );
  });
  afterAll(async () => {
    await endpoint.close();
  });

  it('verifies an opaque token by introspection and an API key against the file', async () => {
    const opaque = await run(runCheck, '--config', config, '--path', '/grades', '--token', 'good-opaque-token');
    expect(opaque.stdout).toContain('decision: allow');
    expect(opaque.code).toBe(0);
    const inactive = await run(runCheck, '--config', config, '--path', '/grades', '--token', 'revoked-opaque-token');
    expect(inactive.stdout).toContain('reason: inactive_token');
    const key = await run(runCheck, '--config', config, '--path', '/x', '--token', apiKey, '--provider', 'ci');
    expect(key.stdout).toContain('decision: allow');
    expect(key.stdout).toMatch(/headers removed: .*x-api-key/);
    expect(key.stdout).not.toContain(apiKey);
  });

  it('takes claims for either provider in tollgate test, as for JWTs', async () => {
    const cases = join(dir, 'cases.yaml');
    writeFileSync(
      cases,
      stringify({
        cases: [
          {
            name: 'teacher by opaque token',
            request: { path: '/grades' },
            claims: { sub: 'u1', roles: ['teacher'] },
            provider: 'as',
            expect: { decision: 'allow', rule: 'grades' },
          },
          {
            name: 'ci key on grades',
            request: { path: '/grades' },
            claims: { sub: 'svc:ci', jti: 'ci' },
            provider: 'ci',
            expect: { decision: 'deny', reason: 'missing_role' },
          },
        ],
      }),
    );
    const result = await run(runTest, '--config', config, cases);
    expect(result.stdout).not.toContain('FAIL');
    expect(result.code).toBe(0);
  });

  it('refuses an api-key without --id or --sub', async () => {
    await expect(run(runKeys, 'api-key', '--sub', 's')).rejects.toThrow(UsageError);
    await expect(run(runKeys, 'api-key', '--id', 'i')).rejects.toThrow(UsageError);
    await expect(run(runKeys, 'api-key', '--id', 'i', '--sub', 's', '--claim', 'jti=x')).rejects.toThrow(/jti is set by --id/);
  });
});
