import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/io.js';
import { runKeys } from '../../src/cli/keys.js';
import { DEV_AUDIENCE, DEV_ISSUER, runToken } from '../../src/cli/token.js';

function capture(): { io: { stdout(s: string): void; stderr(s: string): void }; out: () => string } {
  let text = '';
  return { io: { stdout: (s) => (text += `${s}\n`), stderr: (s) => (text += `${s}\n`) }, out: () => text.trim() };
}

describe('tollgate keys generate and token mint', () => {
  for (const alg of ['ES256', 'RS256', 'EdDSA']) {
    it(`makes a ${alg} key whose tokens verify against the written JWKS`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-keys-'));
      expect(await runKeys(['generate', '--alg', alg, '--out', dir], capture().io)).toBe(0);
      expect(statSync(join(dir, 'private.jwk.json')).mode & 0o777).toBe(0o600);
      const publicSet = JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8')) as { keys: Array<Record<string, unknown>> };
      expect(publicSet.keys[0]).not.toHaveProperty('d');

      const minted = capture();
      const code = await runToken(['mint', '--key', join(dir, 'private.jwk.json'), '--sub', 'alice', '--claim', 'roles=["teacher"]', '--claim', 'team=blue', '--ttl', '10m'], minted.io);
      expect(code).toBe(0);
      const token = minted.out();
      const { payload } = await jwtVerify(token, createLocalJWKSet(publicSet as never), { issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
      expect(payload).toMatchObject({ sub: 'alice', roles: ['teacher'], team: 'blue' });
      expect(payload.exp! - payload.iat!).toBe(600);
      expect(decodeProtectedHeader(token).kid).toBe(publicSet.keys[0]!.kid);
    });
  }

  it('refuses bad input with a usage error', async () => {
    await expect(runKeys(['generate', '--alg', 'none', '--out', '/tmp/x'], capture().io)).rejects.toThrow(UsageError);
    await expect(runToken(['mint', '--key', '/nonexistent.json'], capture().io)).rejects.toThrow('--key: cannot read a JWK from /nonexistent.json');
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-keys-'));
    await runKeys(['generate', '--out', dir], capture().io);
    await expect(runToken(['mint', '--key', join(dir, 'private.jwk.json'), '--ttl', 'forever'], capture().io)).rejects.toThrow('--ttl "forever"');
    await expect(runToken(['mint', '--key', join(dir, 'private.jwk.json'), '--claim', 'novalue'], capture().io)).rejects.toThrow('use name=value');
  });
});
