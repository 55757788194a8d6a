import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/util/config-error.js';
import { parseConfig } from '../../src/config/load.js';
import { createRevocationStore, parseRevocationConfig, type RevocationConfigInput } from '../../src/revocation/index.js';
import { freePort, RedisServer } from './redis-server.js';
import { testDeps } from './helpers.js';

const PASSWORD = 'redis-pw-9d2c41e8b7';

/** A CA and a server certificate for 127.0.0.1, made with openssl. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string; otherCa: string } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=tollgate-test-ca', '-days', '1');
  openssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-subj', '/CN=someone-else', '-days', '1');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '1',
    '-extfile',
    'san.ext',
  );
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), otherCa: join(dir, 'other.crt') };
}

describe('redis revocation store: password from a file or an environment variable, TLS with caFile', () => {
  let dir: string;
  let redis: RedisServer;
  let tlsPort: number;
  let certs: ReturnType<typeof makeCertificates>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-redis-tls-'));
    certs = makeCertificates(dir);
    tlsPort = await freePort();
    redis = await RedisServer.launch({
      args: () => [
        '--requirepass',
        PASSWORD,
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        certs.cert,
        '--tls-key-file',
        certs.key,
        '--tls-ca-cert-file',
        certs.ca,
        '--tls-auth-clients',
        'no',
      ],
    });
    writeFileSync(join(dir, 'redis-password'), `${PASSWORD}\n`);
  });
  afterAll(async () => {
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startWith(redisConfig: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<Error | undefined> {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const config = { store: 'redis', redis: { timeoutSeconds: 1, keyPrefix: 'tls:', ...redisConfig } } as RevocationConfigInput;
      const store = createRevocationStore(parseRevocationConfig(config), testDeps());
      try {
        await store.start();
        await store.revoke({ type: 'jti', value: 'over-tls', reason: 'x' });
        expect(store.check({ jti: 'over-tls' })).toEqual({ revoked: 'jti' });
        await store.stop();
        return undefined;
      } catch (err) {
        await store.stop();
        return err as Error;
      }
    } finally {
      process.env = saved;
    }
  }

  it('connects over TLS with the password from a file', async () => {
    expect(
      await startWith({ url: `redis://127.0.0.1:${tlsPort}`, tls: { caFile: certs.ca }, password: { file: join(dir, 'redis-password') } }),
    ).toBeUndefined();
  });

  it('connects with the password from an environment variable', async () => {
    expect(
      await startWith({ url: redis.url, password: { env: 'TOLLGATE_TEST_REDIS_PASSWORD' } }, { TOLLGATE_TEST_REDIS_PASSWORD: PASSWORD }),
    ).toBeUndefined();
  });

  it('refuses a server whose certificate another CA signed, and a missing password', async () => {
    const wrongCa = await startWith({
      url: `redis://127.0.0.1:${tlsPort}`,
      tls: { caFile: certs.otherCa },
      password: { file: join(dir, 'redis-password') },
    });
    expect(wrongCa?.message).toMatch(/not reachable and synchronised.*certificate/);
    const noPassword = await startWith({ url: redis.url });
    expect(noPassword?.message).toMatch(/NOAUTH|AUTH|authentication/i);
    expect(noPassword?.message).not.toContain(PASSWORD);
  });

  it('names the field when the secret cannot be read', () => {
    const build = (redisConfig: Record<string, unknown>) => () =>
      createRevocationStore(parseRevocationConfig({ store: 'redis', redis: { url: redis.url, ...redisConfig } }), testDeps());
    expect(build({ password: { file: join(dir, 'missing') } })).toThrow(/revocation\.redis\.password\.file: cannot read .*ENOENT/);
    expect(build({ password: { env: 'TOLLGATE_TEST_UNSET_VARIABLE' } })).toThrow(
      /revocation\.redis\.password\.env: environment variable TOLLGATE_TEST_UNSET_VARIABLE is not set/,
    );
    expect(build({ tls: { caFile: join(dir, 'missing.crt') } })).toThrow(ConfigError);
  });
});

describe('revocation.redis config', () => {
  const issues = (redis: unknown) => {
    try {
      parseRevocationConfig({ store: 'redis', redis } as RevocationConfigInput);
      return [];
    } catch (err) {
      return (err as ConfigError).message.split('\n');
    }
  };

  it('takes exactly one of url, sentinel or cluster', () => {
    expect(issues({})).toEqual([expect.stringMatching(/revocation\.redis: set exactly one of url, sentinel or cluster/)]);
    expect(issues({ url: 'redis://a:6379', cluster: { nodes: ['a:6379'] } }).join()).toMatch(/exactly one of url, sentinel or cluster/);
    expect(issues({ sentinel: { sentinels: ['s1:26379'], masterName: 'm' } })).toEqual([]);
    expect(issues({ cluster: { nodes: ['n1:6379', 'n2:6379'] }, minReplicasAcked: 1 })).toEqual([]);
  });

  it('never takes a password inline', () => {
    expect(issues({ url: 'redis://a:6379', password: 'inline-secret' }).join()).toMatch(/revocation\.redis\.password/);
    expect(issues({ sentinel: { sentinels: ['s:26379'], masterName: 'm', sentinelPassword: 'inline' } }).join()).toMatch(
      /sentinelPassword/,
    );
    expect(issues({ url: 'redis://a:6379', password: { file: 'a', env: 'B' } }).join()).toMatch(/set exactly one of file or env/);
    expect(issues({ cluster: { nodes: ['n:1'], password: { env: 'A' } }, password: { env: 'B' } }).join()).toMatch(
      /revocation\.redis\.cluster\.password: set the password once/,
    );
  });

  it('resolves secret and CA files relative to the config file', () => {
    const yaml = [
      'revocation:',
      '  store: redis',
      '  redis:',
      "    sentinel: { sentinels: ['s1:26379'], masterName: m, password: { file: secrets/redis }, sentinelPassword: { env: SENTINEL_PW } }",
      '    tls: { caFile: ca.crt }',
    ].join('\n');
    const redisConfig = parseConfig(yaml, '/etc/tollgate').revocation?.redis;
    expect(redisConfig?.sentinel?.password).toEqual({ file: '/etc/tollgate/secrets/redis' });
    expect(redisConfig?.sentinel?.sentinelPassword).toEqual({ env: 'SENTINEL_PW' });
    expect(redisConfig?.tls).toEqual({ caFile: '/etc/tollgate/ca.crt' });
  });

  it('checks host:port lists and minReplicasAcked', () => {
    expect(issues({ sentinel: { sentinels: ['no-port'], masterName: 'm' } }).join()).toMatch(/sentinels\[0\]: must be host:port/);
    expect(issues({ cluster: { nodes: [] } }).join()).toMatch(/list at least one node/);
    expect(issues({ url: 'redis://a:6379', minReplicasAcked: -1 }).join()).toMatch(/minReplicasAcked/);
  });
});
