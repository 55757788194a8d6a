import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../revocation/redis-server.js';
import { waitFor } from './time.js';

const NGINX = process.env.TOLLGATE_TEST_NGINX ?? '/usr/sbin/nginx';
const EXAMPLE = join(import.meta.dirname, '../../examples/nginx/nginx.conf');
const INSTALL_HINT =
  'nginx is required by the nginx tests: install it with `apt-get install nginx` (.ci/run does), or set TOLLGATE_TEST_NGINX';

export interface RunningNginx {
  url: string;
  /** nginx's error log so far, for failure messages. */
  errorLog(): string;
  stop(): Promise<void>;
}

/** A config to run: examples/nginx/nginx.conf unless a test names another (one a proxy generates). */
export interface NginxConfig {
  /** For error messages. */
  name: string;
  /** Written with the example's addresses: `listen 127.0.0.1:8000;`, `server 127.0.0.1:8080;` (the app), `127.0.0.1:9003` (tollgate). */
  text: string;
}

const THE_EXAMPLE: NginxConfig = { name: 'examples/nginx/nginx.conf', text: readFileSync(EXAMPLE, 'utf8') };

/**
 * Runs a config (examples/nginx/nginx.conf by default) with a real nginx in the foreground: its ports
 * replaced by the test's (its listener, the app, tollgate's authz port), and every path nginx writes
 * (pid, logs, temp files) moved into a temp dir. Nothing else in the config changes.
 */
export async function startNginx(ports: { app: number; tollgate: number }, nginxConfig: NginxConfig = THE_EXAMPLE): Promise<RunningNginx> {
  if (!existsSync(NGINX)) throw new Error(INSTALL_HINT);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-nginx-'));
  mkdirSync(join(dir, 'logs'));
  const listen = await freePort();
  const config = withPorts(nginxConfig, { listen, ...ports }).replace(
    /^http \{$/m,
    [
      'http {',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`),
      `  access_log ${join(dir, 'logs/access.log')};`,
    ].join('\n'),
  );
  const configPath = join(dir, 'nginx.conf');
  writeFileSync(configPath, config);
  const errorLog = join(dir, 'logs/error.log');
  const args = [
    '-p',
    dir,
    '-c',
    configPath,
    '-e',
    errorLog,
    '-g',
    `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${errorLog} info;`,
  ];
  const syntax = spawnSync(NGINX, [...args, '-t'], { encoding: 'utf8' });
  if (syntax.status !== 0) throw new Error(`nginx -t refused the generated config:\n${syntax.stderr}${readLog(errorLog)}`);

  const child: ChildProcess = spawn(NGINX, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let exited = false;
  child.once('exit', () => (exited = true));
  const url = `http://127.0.0.1:${listen}`;
  await waitFor('nginx to accept connections', async () => {
    if (exited) throw new Error(`nginx exited at start:\n${readLog(errorLog)}`);
    return fetch(`${url}/`, { method: 'HEAD' }).then(
      () => true,
      () => false,
    );
  });
  return {
    url,
    errorLog: () => readLog(errorLog),
    stop: async () => {
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM'); // nginx's fast shutdown
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The config with its three ports replaced; each must appear in it exactly as documented. */
function withPorts(nginxConfig: NginxConfig, ports: { listen: number; app: number; tollgate: number }): string {
  let text = nginxConfig.text;
  for (const [from, to] of [
    ['listen 127.0.0.1:8000;', `listen 127.0.0.1:${ports.listen};`],
    ['server 127.0.0.1:8080;', `server 127.0.0.1:${ports.app};`],
    ['127.0.0.1:9003', `127.0.0.1:${ports.tollgate}`],
  ] as const) {
    if (!text.includes(from)) throw new Error(`${nginxConfig.name} no longer contains "${from}"`);
    text = text.replaceAll(from, to);
  }
  return text;
}

function readLog(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}
