import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRequest, EnvoyClient, healthStatus, injectedHeaders } from '../helpers/envoy-client.js';
import { waitFor } from '../helpers/time.js';
import { waitForServing } from '../helpers/cli-process.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

/** The embedded development config, moved to free ports. */
function devConfigOnFreePorts(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-'));
  const source = join(import.meta.dirname, '../../examples/default');
  const text = readFileSync(join(source, 'tollgate.yaml'), 'utf8')
    .replace('grpc: 127.0.0.1:9001', 'grpc: 127.0.0.1:0')
    .replace('http: 127.0.0.1:9002', 'http: 127.0.0.1:0')
    .replace('authz: 127.0.0.1:9003', 'authz: 127.0.0.1:0')
    .replace('file: jwks.json', `file: ${join(source, 'jwks.json')}`)
    .replace('tokenFile: dev-admin-token', `tokenFile: ${join(source, 'dev-admin-token')}`)
    .replace('path: data/revocations.log', `path: ${join(dir, 'revocations.log')}`);
  const path = join(dir, 'tollgate.yaml');
  writeFileSync(path, text);
  return path;
}

describe('tollgate serve (the built CLI, as a user runs it)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('serves Check and health on the development config, and drains on SIGTERM', async () => {
    child = spawn(process.execPath, [CLI, 'serve', '--config', devConfigOnFreePorts()], { stdio: ['ignore', 'pipe', 'pipe'] });
    const { grpcPort, httpPort, grpc, http } = await waitForServing(child);
    // The start line names where it listens, not only the ports.
    expect({ grpc, http }).toEqual({ grpc: `127.0.0.1:${grpcPort}`, http: `127.0.0.1:${httpPort}` });

    const token = spawnSync(
      process.execPath,
      [CLI, 'token', 'mint', '--key', join(import.meta.dirname, '../../examples/default/dev-private.jwk.json'), '--sub', 'alice'],
      { encoding: 'utf8' },
    );
    expect(token.status).toBe(0);
    const client = new EnvoyClient(grpcPort);
    const response = await client.check(checkRequest({ path: '/anything', headers: { authorization: `Bearer ${token.stdout.trim()}` } }));
    expect(response.status?.code).toBe(0);
    expect(injectedHeaders(response)['x-user-id']).toBe('alice');
    client.close();
    expect((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status).toBe(200);

    expect(await healthStatus(grpcPort, '')).toBe('SERVING');
    expect(await healthStatus(grpcPort, 'envoy.service.auth.v3.Authorization')).toBe('SERVING');

    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('log.format: pretty writes one readable line per event (pino-pretty) instead of JSON', async () => {
    const path = devConfigOnFreePorts();
    writeFileSync(path, `${readFileSync(path, 'utf8')}\nlog: { level: info, format: pretty }\n`);
    child = spawn(process.execPath, [CLI, 'serve', '--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor('the pretty start line', () => /INFO.*tollgate serving.*"grpc":"127\.0\.0\.1:\d+"/.test(out), {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    expect(out.split('\n')[0]).not.toMatch(/^\{/);
    // The start line's fields (addresses, providers, rules) are on the same line as its message.
    const start = out.split('\n').find((line) => line.includes('tollgate serving'));
    expect(start).toMatch(/INFO.*tollgate serving \{.*"grpc":"127\.0\.0\.1:\d+"/);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  // V8 prints a "pretenuring:" statistics line at each young-generation collection that weighs
  // allocation-site feedback; with pretenuring off it weighs none. Checks allocate enough for several.
  it.each([
    ['turns V8 allocation-site pretenuring off', [], false],
    ['leaves it on when node is started with --allocation-site-pretenuring', ['--allocation-site-pretenuring'], true],
  ])('%s', async (_name, nodeArgs, expectPretenuring) => {
    child = spawn(process.execPath, ['--trace-pretenuring-statistics', ...nodeArgs, CLI, 'serve', '--config', devConfigOnFreePorts()], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { grpcPort } = await waitForServing(child);
    let afterStart = '';
    child.stdout?.on('data', (chunk: Buffer) => (afterStart += chunk.toString()));
    const client = new EnvoyClient(grpcPort);
    const request = checkRequest({ path: '/anything', headers: { authorization: 'Bearer not-a-token' } });
    for (let round = 0; round < 40; round++) await Promise.all(Array.from({ length: 100 }, () => client.check(request)));
    client.close();
    expect(afterStart.includes('pretenuring:')).toBe(expectPretenuring);
  });

  it('exits with code 2 and names the field for an invalid config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-bad-'));
    const path = join(dir, 'bad.yaml');
    writeFileSync(
      path,
      'providers:\n  - name: idp\n    issuer: https://idp.example.com\n    audiences: [api]\n    algorithms: [none]\n    jwks: { file: jwks.json }\n',
    );
    const result = spawnSync(process.execPath, [CLI, 'serve', '--config', path], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('config: providers[0].algorithms[0]: alg "none" is never accepted');
  });

  it('exits with code 2 when a file the config names cannot be used', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-bad-'));
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'revocation: { store: memory }\nadmin: { tokenFile: missing-admin-token }\n');
    const result = spawnSync(process.execPath, [CLI, 'serve', '--config', path], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`config: admin.tokenFile ${join(dir, 'missing-admin-token')}: cannot read the admin secret (ENOENT)`);
    writeFileSync(
      path,
      'providers: [{ name: idp, issuer: "http://idp.example.com", audiences: [api], algorithms: [ES256], jwks: { discovery: true } }]\n',
    );
    const discovery = spawnSync(process.execPath, [CLI, 'serve', '--config', path], { encoding: 'utf8' });
    expect(discovery.status).toBe(2);
    expect(discovery.stderr).toMatch(/config: provider "idp": issuer \(used for jwks discovery\)/);
  });

  it('exits with code 2 on an unknown command or option', () => {
    expect(spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' }).status).toBe(2);
    const result = spawnSync(process.execPath, [CLI, 'serve', '--confg', 'x'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--confg');
  });
});

describe('config reload in a running tollgate serve', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('follows a Kubernetes ConfigMap update (..data symlink swap) and reloads on SIGHUP', async () => {
    // The layout the kubelet makes: tollgate.yaml -> ..data/tollgate.yaml, ..data -> ..<timestamp>.
    const source = devConfigOnFreePorts();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-configmap-'));
    const original = readFileSync(source, 'utf8');
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'tollgate.yaml'), original);
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/tollgate.yaml', join(dir, 'tollgate.yaml'));

    child = spawn(process.execPath, [CLI, 'serve', '--config', join(dir, 'tollgate.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const { grpcPort, httpPort, grpc, http } = await waitForServing(child);
    // The start line names where it listens, not only the ports.
    expect({ grpc, http }).toEqual({ grpc: `127.0.0.1:${grpcPort}`, http: `127.0.0.1:${httpPort}` });
    const client = new EnvoyClient(grpcPort);
    const publicCode = async () => (await client.check(checkRequest({ path: '/public/page' }))).status?.code;
    expect(await publicCode()).toBe(16);

    // The update: a new timestamped directory, then an atomic rename of a new ..data link over the old.
    const opened = original.replace(
      'rules:\n',
      'rules:\n  - id: public\n    match: { paths: ["/public/**"] }\n    require: { anonymous: true }\n',
    );
    mkdirSync(join(dir, '..v2'));
    writeFileSync(join(dir, '..v2', 'tollgate.yaml'), opened);
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor('the swapped config to take effect', async () => (await publicCode()) === 0, { intervalMs: 50 });

    const reloads = async () => {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      return Number(/tollgate_config_reload_total\{result="success"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await reloads();
    child.kill('SIGHUP');
    await waitFor('SIGHUP to reload the config', async () => (await reloads()) === before + 1, { intervalMs: 50 });
    client.close();
  });
});
