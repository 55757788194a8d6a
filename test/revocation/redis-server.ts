import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from '../helpers/time.js';

const BIND_ATTEMPTS = 5;

export function isBindFailure(err: unknown): boolean {
  return err instanceof Error && err.message.includes('Address already in use');
}

const INSTALL_HINT = 'redis-server is required by the revocation tests: install it with `apt-get install redis-server`';

/** A port nobody listens on right now (the kernel picks it; we release it for the child). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

export interface RedisServerOptions {
  /** Keep data across stop()/start() with an fsync'd append-only file (a Redis that persists). */
  persistent?: boolean;
  /** More command-line options, given the server's own directory (e.g. `--replicaof`, cluster mode). */
  args?: (dir: string) => string[];
  /** Run as a sentinel: the lines of its config file (written to its directory, which it rewrites). */
  sentinel?: string[];
}

/**
 * A private redis-server on 127.0.0.1 for one test file: never a system one. stop()/start() restart
 * it on the same port (partition tests); dispose() kills it and removes its directory.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'tollgate-redis-'));

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  static async launch(options: RedisServerOptions = {}): Promise<RedisServer> {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined) throw new Error(`${INSTALL_HINT} (${probe.error.message})`);
    // The port is free when picked and bound by redis-server a moment later; on this shared machine
    // another process may take it in between, so a bind failure picks another port.
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(await freePort(), options);
      try {
        await server.start();
        return server;
      } catch (err) {
        await server.dispose();
        if (attempt >= BIND_ATTEMPTS || !isBindFailure(err)) throw err;
      }
    }
  }

  /** A replica of `primary`, resolved once it is in sync (its link to the primary up after the first full sync). */
  static async launchReplicaOf(primary: RedisServer): Promise<RedisServer> {
    const replica = await RedisServer.launch({ args: () => ['--replicaof', '127.0.0.1', String(primary.port)] });
    const client = new Redis(replica.url);
    try {
      await waitFor('the replica to be in sync', async () => (await client.info('replication')).includes('master_link_status:up'), {
        intervalMs: 20,
      });
    } finally {
      client.disconnect();
    }
    return replica;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // Already running (a restart loop and a test can both start it): a second redis-server would
    // fail to bind, and the running one would be left behind when this one is disposed.
    if (this.child !== undefined && this.child.exitCode === null) return;
    const persistence = this.options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const common = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir];
    let args = [...common, '--save', '', ...persistence, ...(this.options.args?.(this.dir) ?? [])];
    if (this.options.sentinel !== undefined) {
      const conf = join(this.dir, 'sentinel.conf');
      writeFileSync(conf, `${this.options.sentinel.join('\n')}\n`);
      args = [conf, '--sentinel', ...common];
    }
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on port ${this.port} did not answer PING:\n${output.slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** SIGKILL: the connections drop as in a crash; with `persistent` the data survives. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: the process holds its sockets open and answers nothing, as a stalled VM would. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    this.resume();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Raw RESP PING, so the helper needs no client library. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    // A server that requires a password answers too, with NOAUTH.
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}
