import { hash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runKeys } from '../../src/cli/keys.js';
import { checkRequest, deniedBody, injectedHeaders } from '../helpers/envoy-client.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { waitFor } from '../helpers/time.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ADMIN_SECRET = 'api-keys-admin-secret-0123456789abcdef';

/** A key and its entry as `tollgate keys api-key` prints them. */
async function makeKey(id: string, sub: string, ...claims: string[]): Promise<{ key: string; entry: Record<string, unknown> }> {
  const out: string[] = [];
  const io = { stdout: (text: string) => out.push(text), stderr: () => {} };
  await runKeys(['api-key', '--id', id, '--sub', sub, ...claims.flatMap((c) => ['--claim', c])], io);
  const key = /API key \(shown once, store it now\): (\S+)/.exec(out[0]!)![1]!;
  return { key, entry: (parse(out.slice(2).join('\n')) as Array<Record<string, unknown>>)[0]! };
}

describe('API keys (providers[].apiKeys)', () => {
  let tg: RunningTollgate;
  type Made = Awaited<ReturnType<typeof makeKey>>;
  let acme: Made;
  let globex: Made;
  let expiring: Made;
  const check = (key: string, path = '/api/things') =>
    tg.client.check(checkRequest({ path, headers: { 'x-api-key': key, 'x-user-id': 'forged' } }));
  const reasonFor = async (key: string) => {
    const response = await check(key);
    return response.status?.code === 0 ? 'allowed' : deniedBody(response).reason;
  };
  const writeKeys = (entries: unknown) => tg.writeFile('api-keys.yaml', typeof entries === 'string' ? entries : stringify(entries));
  const metrics = async () => (await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).text();

  beforeAll(async () => {
    [acme, globex, expiring] = await Promise.all([
      makeKey('acme-billing', 'partner:acme', 'roles=["billing"]'),
      makeKey('globex', 'partner:globex'),
      makeKey('expiring', 'partner:initech'),
    ]);
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    tg = await startTollgate(
      {
        providers: [
          {
            name: 'partners',
            apiKeys: { file: 'api-keys.yaml' },
            fromHeaders: [{ name: 'x-api-key' }],
            claimToHeaders: [
              { header: 'x-user-id', claim: 'sub' },
              { header: 'x-user-roles', claim: 'roles' },
            ],
          },
        ],
        // Even with forwardToken the key never reaches the upstream.
        identityHeaders: { strip: ['x-user-'], forwardToken: true },
        rules: [
          { id: 'billing', match: { paths: ['/billing/**'] }, require: { roles: { anyOf: ['billing'] } } },
          { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
        ],
        revocation: { store: 'memory' },
        admin: { tokenFile: 'admin-token' },
        decisionLog: { sink: 'file', path: 'decisions.log', sampleAllowed: 1, sampleDenied: 1 },
      },
      { 'api-keys.yaml': stringify([acme.entry, globex.entry, { ...expiring.entry, expiresAt }]), 'admin-token': ADMIN_SECRET },
      { clockStart: Date.now() },
    );
  });
  afterAll(async () => {
    await tg.close();
  });

  it('makes keys with a recognisable prefix, 32 random bytes, and an entry holding only their SHA-256', () => {
    expect(acme.key).toMatch(/^tg_[A-Za-z0-9_-]{43}$/);
    expect(acme.entry).toEqual({
      id: 'acme-billing',
      hash: `sha256:${hash('sha256', acme.key, 'hex')}`,
      sub: 'partner:acme',
      claims: { roles: ['billing'] },
    });
    expect(JSON.stringify(acme.entry)).not.toContain(acme.key.slice(3));
  });

  it('allows a known key with its entry as claims, and removes its header before the upstream', async () => {
    const response = await check(acme.key, '/billing/invoices');
    expect(response.status?.code).toBe(0);
    expect(injectedHeaders(response)).toEqual({ 'x-user-id': 'partner:acme', 'x-user-roles': 'billing' });
    expect(response.ok_response?.headers_to_remove).toContain('x-api-key');
    expect(deniedBody(await check(globex.key, '/billing/invoices')).reason).toBe('missing_role');
    expect(await reasonFor(globex.key)).toBe('allowed');
  });

  it('counts a key check as a token-cache hit: the loaded file answers, nothing is asked', async () => {
    const hits = async () => Number(/^tollgate_token_cache_total\{result="hit"\} (\d+)$/m.exec(await metrics())?.[1] ?? 0);
    const before = await hits();
    expect(await reasonFor(acme.key)).toBe('allowed');
    expect(await hits()).toBe(before + 1);
  });

  it('refuses an unknown key, and a key one character off', async () => {
    expect(await reasonFor('tg_not-a-key-at-all')).toBe('unknown_api_key');
    const last = acme.key.at(-1) === 'A' ? 'B' : 'A';
    expect(await reasonFor(`${acme.key.slice(0, -1)}${last}`)).toBe('unknown_api_key');
  });

  it('shows the id, never the key, in logs and decision logs', async () => {
    await check(acme.key);
    const decisions = () => (existsSync(join(tg.dir, 'decisions.log')) ? readFileSync(join(tg.dir, 'decisions.log'), 'utf8') : '');
    await waitFor('a decision line for the key', () => decisions().includes('"jti":"acme-billing"'));
    expect(decisions()).not.toContain(acme.key.slice(3));
    expect(tg.logText()).not.toContain(acme.key);
    expect(tg.logText()).not.toContain(acme.key.slice(3));
  });

  it('refuses an entry past its expiresAt, on the clock with no skew', async () => {
    expect(await reasonFor(expiring.key)).toBe('allowed');
    tg.clock.advance(60_000);
    expect(await reasonFor(expiring.key)).toBe('expired');
  });

  it('applies a revocation of the id (jti) or of the sub', async () => {
    const revoke = (type: string, value: string) =>
      fetch(`http://127.0.0.1:${tg.app.httpPort}/admin/v1/revocations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type, value, reason: 'test' }),
      });
    expect((await revoke('jti', 'globex')).status).toBe(201);
    await waitFor('the revoked key to be refused', async () => (await reasonFor(globex.key)) === 'revoked');
    expect(await reasonFor(acme.key)).toBe('allowed');
  });

  it('keeps the last good file when a change does not parse, and drops a removed entry at the next read', async () => {
    writeKeys('- id: broken\n  hash: sha256:nothex\n');
    await waitFor('the bad file to be refused', async () =>
      /tollgate_api_keys_reload_total\{provider="partners",result="error"\} [1-9]/.test(await metrics()),
    );
    expect(await reasonFor(acme.key)).toBe('allowed');
    expect(tg.logText()).toContain('api keys: file refused; keeping the last good file');

    writeKeys([globex.entry]);
    await waitFor('the removed key to be refused', async () => (await reasonFor(acme.key)) === 'unknown_api_key');
    expect(await metrics()).toMatch(/tollgate_api_keys\{provider="partners"\} 1/);
  });

  it('starts when the file cannot even be watched (its directory is missing), refusing every key', async () => {
    const other = await startTollgate({
      providers: [{ name: 'partners', apiKeys: { file: 'missing/api-keys.yaml' }, fromHeaders: [{ name: 'x-api-key' }] }],
      rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
    });
    try {
      const response = await other.client.check(checkRequest({ headers: { 'x-api-key': acme.key } }));
      expect(deniedBody(response).reason).toBe('unknown_api_key');
      expect(other.logText()).toContain('api keys: cannot watch the file');
    } finally {
      await other.close();
    }
  });
});

/**
 * An API-key provider and a JWT provider reading the same Authorization header (the default place of
 * both): a JWS-shaped token still goes to its issuer, any other token to the key file, whichever of the
 * two providers comes first.
 */
describe('API keys beside a JWT provider in one header', () => {
  const ISSUER = 'https://idp.example.com';
  let idp: TestKey;
  let acme: Awaited<ReturnType<typeof makeKey>>;
  let globex: Awaited<ReturnType<typeof makeKey>>;
  const started: RunningTollgate[] = [];

  beforeAll(async () => {
    idp = await testKey('ES256');
    [acme, globex] = await Promise.all([makeKey('acme', 'partner:acme', 'tenant="acme"'), makeKey('globex', 'partner:globex')]);
  });
  afterAll(async () => {
    await Promise.all(started.map((tg) => tg.close()));
  });

  const start = async (order: 'keys first' | 'jwt first') => {
    const keys = { name: 'partners', apiKeys: { file: 'api-keys.yaml' }, requiredClaims: ['tenant'] };
    const jwt = { name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { file: 'jwks.json' } };
    const tg = await startTollgate(
      {
        providers: order === 'keys first' ? [keys, jwt] : [jwt, keys],
        rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
      },
      { 'api-keys.yaml': stringify([acme.entry, globex.entry]), 'jwks.json': JSON.stringify(jwks(idp)) },
    );
    started.push(tg);
    return async (token: string) => {
      const response = await tg.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));
      return response.status?.code === 0 ? 'allowed' : deniedBody(response).reason;
    };
  };

  it.each(['keys first', 'jwt first'] as const)('%s: each token goes to its provider', async (order) => {
    const reasonFor = await start(order);
    expect(await reasonFor(acme.key)).toBe('allowed');
    expect(await reasonFor(await mint(ISSUER, 'api', { key: idp, claims: { sub: 'alice' } }))).toBe('allowed');
    // The entry lacks the provider's requiredClaims.
    expect(await reasonFor(globex.key)).toBe('invalid_claims');
  });
});
