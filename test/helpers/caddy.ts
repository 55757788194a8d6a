import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../revocation/redis-server.js';
import { waitFor } from './time.js';

const CADDY = process.env.TOLLGATE_TEST_CADDY ?? '/usr/bin/caddy';
const EXAMPLE = join(import.meta.dirname, '../../examples/caddy/Caddyfile');
const INSTALL_HINT =
  'Caddy is required by the Caddy tests: install it with `apt-get install caddy` (.ci/run does), or set TOLLGATE_TEST_CADDY';

export interface RunningCaddy {
  url: string;
  /** Caddy's log so far (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Runs examples/caddy/Caddyfile with a real Caddy in the foreground: its three addresses replaced by
 * the test's (its listener, the app, tollgate's authz port), Caddy's data and config dirs in a temp dir.
 * Nothing else in the Caddyfile changes.
 */
export async function startCaddy(ports: { app: number; tollgate: number }): Promise<RunningCaddy> {
  if (!existsSync(CADDY)) throw new Error(INSTALL_HINT);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-caddy-'));
  const listen = await freePort();
  let text = readFileSync(EXAMPLE, 'utf8');
  for (const [from, to] of [
    ['http://:8000 {', `http://:${listen} {`],
    ['reverse_proxy 127.0.0.1:8080', `reverse_proxy 127.0.0.1:${ports.app}`],
    ['forward_auth 127.0.0.1:9003 {', `forward_auth 127.0.0.1:${ports.tollgate} {`],
  ] as const) {
    if (!text.includes(from)) throw new Error(`examples/caddy/Caddyfile no longer contains "${from}"`);
    text = text.replaceAll(from, to);
  }
  const configPath = join(dir, 'Caddyfile');
  writeFileSync(configPath, text);
  // Caddy keeps its state under XDG dirs (HOME by default): the test's own, removed afterwards.
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
  const args = ['--config', configPath, '--adapter', 'caddyfile'];
  const check = spawnSync(CADDY, ['validate', ...args], { encoding: 'utf8', env });
  if (check.status !== 0) throw new Error(`caddy validate refused the Caddyfile:\n${check.stdout}${check.stderr}`);

  let output = '';
  const child: ChildProcess = spawn(CADDY, ['run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  const url = `http://127.0.0.1:${listen}`;
  await waitFor('Caddy to accept connections', async () => {
    if (exited) throw new Error(`caddy exited at start:\n${output}`);
    return fetch(`${url}/`, { method: 'HEAD' }).then(
      () => true,
      () => false,
    );
  });
  return {
    url,
    log: () => output,
    stop: async () => {
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
