/**
 * The built CLI as a user runs it: --help on every command and subcommand, --version, and every flag
 * a command accepts named in its usage, in the top-level usage and in the README's command table.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as check from '../../src/cli/check.js';
import * as keys from '../../src/cli/keys.js';
import * as revoke from '../../src/cli/revoke.js';
import * as serve from '../../src/cli/serve.js';
import * as test from '../../src/cli/test.js';
import * as token from '../../src/cli/token.js';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

const COMMANDS = { serve, check, test, revoke, keys, token } as const;
const SUBCOMMANDS: Record<string, string[]> = { keys: ['generate', 'rotate', 'api-key'], token: ['mint'] };
/** Flags of a command: what its parseArgs accepts (help is answered for every command alike). */
const flagsOf = (name: keyof typeof COMMANDS) =>
  Object.keys(COMMANDS[name].OPTIONS)
    .filter((f) => f !== 'help')
    .map((f) => `--${f}`);

describe('tollgate --help and --version', () => {
  it('--version prints package.json version', () => {
    const result = run('--version');
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  for (const name of Object.keys(COMMANDS) as Array<keyof typeof COMMANDS>) {
    for (const args of [[name, '--help'], [name, '-h'], ...(SUBCOMMANDS[name] ?? []).map((sub) => [name, sub, '--help'])]) {
      it(`tollgate ${args.join(' ')} prints the usage with every flag, exit 0`, () => {
        const result = run(...args);
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        expect(result.stdout).toMatch(new RegExp(`tollgate ${name}`));
        for (const flag of flagsOf(name)) expect(result.stdout).toContain(flag);
      });
    }
  }

  it('the top-level usage and the README command table name every flag of every command', () => {
    const top = run('--help');
    expect(top.status).toBe(0);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const name of Object.keys(COMMANDS) as Array<keyof typeof COMMANDS>) {
      const row = readme
        .split('\n')
        .filter((line) => line.startsWith(`| \`tollgate ${name}`))
        .join('\n');
      expect(row, `README row for ${name}`).not.toBe('');
      for (const flag of flagsOf(name)) {
        expect(top.stdout, `tollgate --help: ${name} ${flag}`).toContain(flag);
        expect(row, `README: ${name} ${flag}`).toContain(flag);
      }
    }
  });

  it('a bad flag answers with the command usage on stderr, exit 2', () => {
    const result = run('keys', 'generate', '--bogus');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--bogus');
    expect(result.stderr).toContain('usage: tollgate keys generate');
  });
});
