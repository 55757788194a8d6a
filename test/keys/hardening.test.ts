import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKeyManager, JwksConfigError, jwksConfigSchema } from '../../src/keys/index.js';
import {
  closeServers,
  codeOf,
  count,
  harness,
  json,
  jwks,
  makeKey,
  quietDeps,
  startServer,
  stopManagers,
  type Handler,
  type TestServer,
} from './helpers.js';

let server: TestServer;

beforeEach(async () => {
  server = await startServer(json(jwks(await makeKey('ES256', 'k1'))));
});
afterEach(async () => {
  stopManagers();
  await closeServers();
});

const FIFTY_MB = 50 * 1024 * 1024;

/** Streams up to 50 MB without Content-Length, respecting backpressure, until the client goes away. */
const hugeBody: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  const pump = (): void => {
    while (sent < FIFTY_MB && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('error', () => {});
  pump();
};

describe('a malicious or broken JWKS server', () => {
  const cases: [string, (other: TestServer) => Handler, RegExp][] = [
    ['slow body that never ends', () => (_req, res) => void res.writeHead(200).write('{"keys":['), /timed out after 0.3s/],
    ['50 MB body', () => hugeBody, /larger than 1048576 bytes/],
    [
      'declared 50 MB Content-Length',
      () => (_req, res) => void res.writeHead(200, { 'content-length': FIFTY_MB }).write('{'),
      /larger than/,
    ],
    ['invalid JSON', () => (_req, res) => res.writeHead(200).end('{"keys": [oops'), /not valid JSON/],
    ['JSON without a keys array', () => json({ keys: 'nope' }), /no "keys" array/],
    [
      'redirect',
      (other) => (_req, res) => res.writeHead(302, { location: `${other.origin}/jwks` }).end(),
      /HTTP 302 \(redirects are not followed\)/,
    ],
    ['HTTP 500', () => (_req, res) => res.writeHead(500).end('boom'), /HTTP 500/],
  ];

  it.each(cases)('%s: refresh fails, the error is recorded, old keys are still served', async (_name, make, message) => {
    const other = await startServer(json(jwks(await makeKey('ES256', 'evil'))));
    const { manager, registry } = harness({ uri: `${server.origin}/jwks`, timeoutSeconds: 0.3 });
    await manager.start();
    const good = await manager.getKey({ alg: 'ES256', kid: 'k1' });

    server.handler = make(other);
    await expect(manager.refresh()).rejects.toThrow(message);

    expect(manager.status()).toMatchObject({ ready: true, stale: true, keys: 1 });
    expect(manager.status().lastError).toMatch(message);
    expect(await manager.getKey({ alg: 'ES256', kid: 'k1' })).toBe(good);
    expect(manager.isCurrent(good.id)).toBe(true);
    expect(count(other)).toBe(0);
    expect(await registry.getSingleMetricAsString('tollgate_jwks_refresh_total')).toContain('result="error"} 1');
  });
});

describe('transport requirements', () => {
  const provider = (jwksSection: Record<string, unknown>, issuer = 'https://idp.example.com') => ({
    name: 'idp',
    issuer,
    algorithms: ['RS256'],
    jwks: jwksConfigSchema.parse(jwksSection),
  });

  it('rejects a plain-http JWKS URI at creation, with the field and the fix', () => {
    const parsed = jwksConfigSchema.safeParse({ uri: 'http://example.com/jwks' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ path: ['uri'], message: expect.stringMatching(/https.*allowInsecureHttp/) });

    // A hand-built config (skipping the schema) is validated again at creation.
    const unchecked = { ...jwksConfigSchema.parse({ file: 'x.json' }), file: undefined, uri: 'http://example.com/jwks' };
    const create = () => createKeyManager({ ...provider({ file: 'x.json' }), jwks: unchecked }, quietDeps());
    expect(create).toThrow(JwksConfigError);
    expect(create).toThrow('provider "idp": jwks.uri: must be an https URL');
  });

  it('allows http for loopback hosts and with allowInsecureHttp', () => {
    for (const uri of ['http://127.0.0.1:1/jwks', 'http://localhost/jwks', 'http://[::1]:8080/jwks']) {
      expect(jwksConfigSchema.safeParse({ uri }).success).toBe(true);
    }
    expect(jwksConfigSchema.safeParse({ uri: 'http://example.com/jwks', allowInsecureHttp: true }).success).toBe(true);
  });

  it('rejects discovery from a plain-http issuer', () => {
    expect(() => createKeyManager(provider({ discovery: true }, 'http://idp.example.com'), quietDeps())).toThrow(
      /issuer \(used for jwks discovery\) must be an https URL/,
    );
  });

  it('validates the section: exactly one source, sane intervals, algorithms JWKS can serve', () => {
    expect(jwksConfigSchema.safeParse({}).success).toBe(false);
    expect(jwksConfigSchema.safeParse({ file: 'a.json', uri: 'https://x/jwks' }).success).toBe(false);
    expect(jwksConfigSchema.safeParse({ file: 'a.json', refreshSeconds: 10, minRefreshSeconds: 30 }).success).toBe(false); // below the min
    // Without an explicit min, a short refresh interval lowers the clamp with it.
    expect(jwksConfigSchema.parse({ file: 'a.json', refreshSeconds: 10 })).toMatchObject({ refreshSeconds: 10, minRefreshSeconds: 10 });
    expect(jwksConfigSchema.safeParse({ file: 'a.json', refreshSecond: 10 }).success).toBe(false); // typo
    expect(jwksConfigSchema.safeParse({ file: 'a.json', allowedJwksOrigins: ['https://x'] }).success).toBe(false);
    expect(jwksConfigSchema.parse({ file: 'a.json' })).toEqual({
      file: 'a.json',
      refreshSeconds: 300,
      minRefreshSeconds: 30,
      maxRefreshSeconds: 86400,
      maxStaleSeconds: 86400,
      unknownKidCooldownSeconds: 30,
      timeoutSeconds: 5,
      maxBytes: 1048576,
      allowInsecureHttp: false,
    });
    expect(() => createKeyManager({ ...provider({ file: 'x.json' }), algorithms: ['HS256'] }, quietDeps())).toThrow(
      /none of \[HS256\] can be verified with JWKS keys/,
    );
    // HS* beside asymmetric algorithms is fine: a shared secret elsewhere verifies those.
    expect(() => createKeyManager({ ...provider({ file: 'x.json' }), algorithms: ['HS256', 'RS256'] }, quietDeps())).not.toThrow();
  });

  it('a known kid never waits for I/O', async () => {
    const { manager } = harness({ uri: `${server.origin}/jwks` });
    await manager.start();
    server.handler = () => {}; // any fetch would now hang
    const before = count(server);
    await Promise.all(Array.from({ length: 100 }, () => manager.getKey({ alg: 'ES256', kid: 'k1' })));
    expect(count(server)).toBe(before);
    expect(await codeOf(manager.getKey({ alg: 'RS256', kid: 'k1' }))).toBe('alg_mismatch');
  });
});
