import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRevoke } from '../../src/cli/revoke.js';
import { SECRET, startAdmin, T0, type AdminFixture } from '../admin/admin-server.js';
import { freePort } from './redis-server.js';

let admin: AdminFixture;
beforeAll(async () => {
  admin = await startAdmin();
});
afterAll(async () => {
  await admin?.close();
});

async function revoke(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runRevoke([...args, '--admin-url', admin.url, '--admin-token-file', admin.tokenFile], {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  expect(stdout + stderr).not.toContain(SECRET);
  return { code, stdout, stderr };
}

describe('tollgate revoke', () => {
  it('revokes a token, a session and a subject through the admin API', async () => {
    const jti = await revoke('--sub', 'alice', '--jti', 'tok-1', '--reason', 'leaked');
    expect(jti.code).toBe(0);
    expect(JSON.parse(jti.stdout)).toMatchObject({ revocation: { type: 'jti', value: 'tok-1', sub: 'alice', reason: 'leaked' } });
    expect(admin.store.check({ jti: 'tok-1' })).toEqual({ revoked: 'jti' });

    expect((await revoke('--sid', 'sess-1', '--reason', 'logout', '--expires-at', '2025-01-31T12:30:00Z')).code).toBe(0);
    expect(admin.store.check({ sid: 'sess-1' })).toEqual({ revoked: 'sid' });

    const sub = await revoke('--sub', 'bob', '--reason', 'compromised', '--not-before', '2025-01-31T12:10:00Z');
    expect(sub.code).toBe(0);
    expect(JSON.parse(sub.stdout).revocation).toMatchObject({ type: 'sub', value: 'bob', notBefore: '2025-01-31T12:10:00Z' });
    expect(admin.store.check({ sub: 'bob', iat: T0 / 1000 })).toEqual({ revoked: 'sub' });

    // Without --reason, as in `tollgate revoke --sub user-123 --admin-url ... --admin-token-file ...`.
    const bare = await revoke('--sub', 'user-123');
    expect(bare.code).toBe(0);
    expect(JSON.parse(bare.stdout).revocation).toMatchObject({
      type: 'sub',
      value: 'user-123',
      reason: 'no reason given (tollgate revoke)',
    });
  });

  it('--refresh, --list and --remove', async () => {
    expect((await revoke('--refresh', '--sub', 'carol')).code).toBe(0);
    expect(admin.store.check({ sub: 'carol', iat: T0 / 1000 - 5 })).toEqual({ revoked: null, refresh: true });

    await revoke('--jti', 'tok-2', '--reason', 'r');
    const listed = await revoke('--list');
    expect(listed.code).toBe(0);
    const body = JSON.parse(listed.stdout) as { revocations: Array<{ value: string }>; refresh: Array<{ sub: string }> };
    expect(body.revocations.map((e) => e.value)).toContain('tok-2');
    expect(body.refresh.map((m) => m.sub)).toContain('carol');

    expect(await revoke('--remove', '--jti', 'tok-2')).toMatchObject({ code: 0, stdout: '{"removed":true}' });
    const again = await revoke('--remove', '--jti', 'tok-2');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('the server refused (HTTP 404): no live jti revocation with that value');
  });

  it('exit 1 when the server refuses or cannot be reached', async () => {
    const wrong = join(admin.dir, 'wrong-token');
    writeFileSync(wrong, 'this-is-not-the-admin-secret\n');
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (text: string) => (stderr += text) };
    expect(await runRevoke(['--jti', 'x', '--reason', 'r', '--admin-url', admin.url, '--admin-token-file', wrong], io)).toBe(1);
    expect(stderr).toContain('HTTP 401');
    expect(stderr).not.toContain('this-is-not');

    stderr = '';
    const closed = `http://127.0.0.1:${await freePort()}`;
    expect(await runRevoke(['--jti', 'x', '--reason', 'r', '--admin-url', closed, '--admin-token-file', admin.tokenFile], io)).toBe(1);
    expect(stderr).toMatch(/cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });

  it('exit 2 on bad input, before any request', async () => {
    const bad: Array<[string[], RegExp]> = [
      [['--reason', 'r'], /give --jti ID, --sid ID or --sub SUBJECT/],
      [['--jti', 'a', '--sid', 'b', '--reason', 'r'], /not both/],
      [['--sub', 'a', '--reason', 'r', '--not-before', 'yesterday'], /--not-before: must be an RFC 3339 timestamp/],
      [['--jti', 'a', '--reason', 'r', '--not-before', '2025-01-31T12:00:00Z'], /--not-before applies to a --sub revocation/],
      [['--refresh', '--jti', 'a'], /--refresh needs --sub/],
      [['--list', '--remove'], /cannot be combined/],
      [['--jti', 'a', '--reason', 'r', '--bogus'], /Unknown option '--bogus'/],
      [['--jti', '', '--reason', 'r'], /--jti: must not be empty/],
    ];
    for (const [args, message] of bad) {
      const result = await revoke(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    let stderr = '';
    const code = await runRevoke(['--jti', 'a', '--reason', 'r', '--admin-url', admin.url], {
      stdout: () => undefined,
      stderr: (text) => (stderr += text),
    });
    expect(code).toBe(2);
    expect(stderr).toContain('--admin-token-file FILE or --admin-token-env NAME');
    expect(admin.store.list().map((e) => e.value)).not.toContain('a');
  });
});
