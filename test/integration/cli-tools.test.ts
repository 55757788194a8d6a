import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
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
      const code = await runToken(
        [
          'mint',
          '--key',
          join(dir, 'private.jwk.json'),
          '--sub',
          'alice',
          '--claim',
          'roles=["teacher"]',
          '--claim',
          'team=blue',
          '--ttl',
          '10m',
        ],
        minted.io,
      );
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
    await expect(runToken(['mint', '--key', '/nonexistent.json', '--sub', 'a'], capture().io)).rejects.toThrow(
      '--key: cannot read a JWK from /nonexistent.json',
    );
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-keys-'));
    await runKeys(['generate', '--out', dir], capture().io);
    await expect(
      runToken(['mint', '--key', join(dir, 'private.jwk.json'), '--sub', 'a', '--ttl', 'forever'], capture().io),
    ).rejects.toThrow('--ttl "forever"');
    await expect(
      runToken(['mint', '--key', join(dir, 'private.jwk.json'), '--sub', 'a', '--claim', 'novalue'], capture().io),
    ).rejects.toThrow('use name=value');
  });
});

describe('tollgate token mint: times, subject, claims, keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-mint-'));
  const ready = runKeys(['generate', '--out', dir], capture().io);
  const key = join(dir, 'private.jwk.json');
  const mint = async (...args: string[]) => {
    await ready;
    const out = capture();
    expect(await runToken(['mint', '--key', key, ...args], out.io)).toBe(0);
    return decodeJwt(out.out());
  };
  const now = () => Math.floor(Date.now() / 1000);

  it('--exp -1m mints an expired token in one command; --nbf and --iat take relative, epoch and RFC 3339 times', async () => {
    const expired = await mint('--sub', 'alice', '--exp', '-1m');
    expect(expired.exp! - now()).toBeGreaterThanOrEqual(-61);
    expect(expired.exp! - now()).toBeLessThanOrEqual(-59);
    const later = await mint('--sub', 'alice', '--nbf', '+10m', '--iat', '-2h', '--ttl', '3h');
    expect(later.nbf! - now()).toBeGreaterThanOrEqual(599);
    expect(later.exp! - later.iat!).toBe(3 * 3600);
    expect(now() - later.iat!).toBeGreaterThanOrEqual(7199);
    const absolute = await mint('--sub', 'alice', '--iat', '1767225600', '--exp', '2026-01-01T01:00:00Z');
    expect(absolute).toMatchObject({ iat: 1767225600, exp: 1767229200 });
  });

  it('refuses a --claim for a claim an option sets, instead of letting one silently win', async () => {
    await ready;
    for (const name of ['exp', 'nbf', 'iat', 'iss', 'sub', 'aud', 'jti']) {
      await expect(runToken(['mint', '--key', key, '--sub', 'a', '--claim', `${name}=1`], capture().io)).rejects.toThrow(
        `--claim ${name}=...: ${name} is set by`,
      );
    }
    await expect(runToken(['mint', '--key', key, '--sub', 'a', '--ttl', '1m', '--exp', '+1m'], capture().io)).rejects.toThrow(
      'give --ttl or --exp',
    );
    await expect(runToken(['mint', '--key', key, '--sub', 'a', '--exp', 'tomorrow'], capture().io)).rejects.toThrow('--exp "tomorrow"');
  });

  it('requires --sub, or --no-sub for a token without a subject', async () => {
    await ready;
    await expect(runToken(['mint', '--key', key], capture().io)).rejects.toThrow('--sub SUBJECT is required (or --no-sub');
    expect(await mint('--no-sub')).not.toHaveProperty('sub');
  });

  it('names a public JWKS or a public key passed as --key for what it is', async () => {
    await ready;
    await expect(runToken(['mint', '--key', join(dir, 'jwks.json'), '--sub', 'a'], capture().io)).rejects.toThrow(
      /is a JWKS, a set of PUBLIC keys/,
    );
    const publicJwk = join(dir, 'public.jwk.json');
    writeFileSync(publicJwk, JSON.stringify((JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8')) as { keys: unknown[] }).keys[0]));
    await expect(runToken(['mint', '--key', publicJwk, '--sub', 'a'], capture().io)).rejects.toThrow(/holds a PUBLIC key/);
  });
});

describe('tollgate keys generate', () => {
  it('refuses to overwrite a private key without --force, and keeps it 0600 with --force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-keys-'));
    await runKeys(['generate', '--out', dir], capture().io);
    const before = readFileSync(join(dir, 'private.jwk.json'), 'utf8');
    await expect(runKeys(['generate', '--out', dir], capture().io)).rejects.toThrow(/already exist.*--force/);
    expect(readFileSync(join(dir, 'private.jwk.json'), 'utf8')).toBe(before);
    expect(await runKeys(['generate', '--out', dir, '--force'], capture().io)).toBe(0);
    expect(readFileSync(join(dir, 'private.jwk.json'), 'utf8')).not.toBe(before);
    expect(statSync(join(dir, 'private.jwk.json')).mode & 0o777).toBe(0o600);
  });
});
