/**
 * The Dockerfile cannot be built here (no Docker engine), so this test REPLAYS it: it parses the
 * Dockerfile, checks the runtime stage's shape (distroless, numeric non-root user, exec-form entrypoint,
 * no RUN), performs the `deps` stage for real in a temporary directory (`npm ci --omit=dev`, so the
 * production dependency set is the one package-lock.json gives), assembles the runtime stage's /app from
 * the COPY lines, and starts it with the image's ENTRYPOINT. grpc.health.v1 must answer SERVING, and
 * SIGTERM must end the process with exit code 0. A dependency used at run time but declared as a
 * devDependency, or a file the runtime needs but the Dockerfile does not copy, fails here.
 *
 * The `build` stage is not replayed: its output, dist/, is the repository's own build (`npm test` runs
 * `npm run build` first, the same command the stage runs). The replay starts the image's entrypoint
 * with a node of the image's major version: this process's, or the one .ci/install-node installed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO } from './kustomize.js';
import { nodeBinary, pinnedNodeLines } from './node-lines.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}

interface Stage {
  from: string;
  name: string;
  instructions: Instruction[];
}

/** Dockerfile → stages. Handles comments, blank lines and backslash continuations; nothing fancier. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\')) line = `${line.slice(0, -1)} ${lines[++i] ?? ''}`;
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`Dockerfile:${start + 1}: cannot parse ${JSON.stringify(line)}`);
    const op = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`Dockerfile:${start + 1}: cannot parse FROM ${args}`);
      stages.push({ from: from[1]!, name: from[2] ?? String(stages.length), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile:${start + 1}: ${op} before FROM`);
    stage.instructions.push({ op, args, line: start + 1 });
  }
  return stages;
}

function execForm(args: string): string[] {
  const value: unknown = JSON.parse(args);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`not an exec-form list: ${args}`);
  return value;
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}

function parseCopy(args: string): Copy {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
    else throw new Error(`COPY flag ${flag} is not supported by the replay; keep COPY plain`);
  }
  const dest = words.pop();
  if (!dest || words.length === 0) throw new Error(`COPY needs sources and a destination: ${args}`);
  return { from, sources: words, dest };
}

/** Simple .dockerignore semantics: a pattern excludes a path equal to it or under it. */
function ignoredBy(patterns: string[], path: string): string | undefined {
  const clean = path.replace(/^\.\//, '').replace(/\/$/, '');
  return patterns.find((p) => !p.startsWith('!') && !p.includes('*') && (clean === p || clean.startsWith(`${p}/`)));
}

/** LABEL arguments → key/value map: `key="value"` pairs (double-quoted or bare values). */
function parseLabels(args: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of args.matchAll(/([\w.-]+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))/g)) labels[match[1]!] = match[2] ?? match[3]!;
  return labels;
}

const dockerfile = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const runtime = dockerfile.at(-1)!;
/** The runtime image's Node.js major, from `gcr.io/distroless/nodejs<major>-…`. */
const IMAGE_NODE_MAJOR = /\/nodejs(\d+)-/.exec(runtime.from)?.[1] ?? 'none';
const ops = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op);

describe('Dockerfile', () => {
  it('builds in stages and runs on a distroless image of a supported Node.js line as a numeric non-root user', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    expect(runtime.from).toMatch(/^gcr\.io\/distroless\/nodejs\d+-debian13:nonroot(@sha256:[0-9a-f]{64})?$/);
    expect(Object.keys(pinnedNodeLines())).toContain(IMAGE_NODE_MAJOR);
    // Dependencies are installed and dist/ is built by the same Node.js major that runs them.
    for (const stage of dockerfile.slice(0, -1))
      expect(stage.from, stage.name).toMatch(new RegExp(`^node:${IMAGE_NODE_MAJOR}-trixie-slim(@sha256:[0-9a-f]{64})?$`));
    // No shell at run time: the runtime stage runs nothing, and starts node directly (exec form).
    expect(ops(runtime, 'RUN')).toEqual([]);
    const user = ops(runtime, 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    const entrypoint = execForm(ops(runtime, 'ENTRYPOINT').at(-1)?.args ?? '');
    expect(entrypoint).toEqual(['/nodejs/bin/node', 'dist/cli.js', 'serve']);
    expect(execForm(ops(runtime, 'CMD').at(-1)?.args ?? '')).toEqual(['--config', '/etc/tollgate/tollgate.yaml']);
    expect(
      ops(runtime, 'EXPOSE')
        .map((i) => i.args)
        .join(' ')
        .split(/\s+/)
        .sort(),
    ).toEqual(['9001', '9002']);
  });

  it('labels the image with OCI annotations: version and source revision from build args, licence, base image', () => {
    const labels = parseLabels(
      ops(runtime, 'LABEL')
        .map((l) => l.args)
        .join(' '),
    );
    const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; license: string };
    expect(labels['org.opencontainers.image.title']).toBe('tollgate');
    expect(labels['org.opencontainers.image.licenses']).toBe(manifest.license);
    expect(labels['org.opencontainers.image.version']).toBe('${VERSION}');
    expect(labels['org.opencontainers.image.revision']).toBe('${REVISION}');
    expect(labels['org.opencontainers.image.base.name']).toBe(runtime.from.replace(/@sha256:.*$/, ''));
    // Declared in the runtime stage (an ARG's scope is its stage); the default version is package.json's.
    const args = new Map(ops(runtime, 'ARG').map((a) => [a.args.split('=')[0], a.args.split('=')[1]] as const));
    expect(args.get('VERSION')).toBe(manifest.version);
    expect(args.has('REVISION')).toBe(true);
  });

  it('installs production dependencies only, without scripts, and builds with npm run build', () => {
    const runs = dockerfile.flatMap((s) => ops(s, 'RUN').map((r) => `${s.name}: ${r.args}`));
    expect(runs).toContain('deps: npm ci --omit=dev --ignore-scripts');
    expect(runs).toContain('build: npm run build');
    const copies = ops(runtime, 'COPY').map((c) => parseCopy(c.args));
    expect(copies).toContainEqual({ from: 'deps', sources: ['/app/node_modules'], dest: './node_modules' });
    expect(copies).toContainEqual({ from: 'build', sources: ['/app/dist'], dest: './dist' });
  });

  it('copies nothing the .dockerignore leaves out of the build context', () => {
    const patterns = readFileSync(join(REPO, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const stage of dockerfile) {
      for (const copy of ops(stage, 'COPY').map((c) => parseCopy(c.args))) {
        if (copy.from) continue;
        for (const source of copy.sources) {
          expect(ignoredBy(patterns, source), `${stage.name}: COPY ${source}`).toBeUndefined();
          expect(existsSync(join(REPO, source)), `${source} exists`).toBe(true);
        }
      }
    }
  });
});

describe('the image, replayed', () => {
  let work: string;
  let child: ChildProcess | undefined;
  let stderr = '';

  /** Where each stage's filesystem lives in the replay; only paths the Dockerfile touches exist. */
  const stageRoot = (name: string) => join(work, 'stages', name);
  const inStage = (name: string, path: string) => join(stageRoot(name), path);

  beforeAll(() => {
    if (!existsSync(join(REPO, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first (npm test does)');
    work = mkdtempSync(join(tmpdir(), 'tollgate-image-'));
    // Module resolution must not find the repository's node_modules (or any other) above the image root.
    for (let dir = dirname(work); dir !== dirname(dir); dir = dirname(dir)) {
      if (existsSync(join(dir, 'node_modules'))) throw new Error(`${dir}/node_modules would leak into the replay; use another TMPDIR`);
    }
  });

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('assembles /app from the COPY steps, with the production install done for real', () => {
    for (const stage of dockerfile) {
      let workdir = '/';
      mkdirSync(stageRoot(stage.name), { recursive: true });
      for (const step of stage.instructions) {
        if (step.op === 'WORKDIR') {
          workdir = posix.resolve(workdir, step.args);
          mkdirSync(inStage(stage.name, workdir), { recursive: true });
        } else if (step.op === 'COPY') {
          const copy = parseCopy(step.args);
          const dest = posix.resolve(workdir, copy.dest);
          for (const source of copy.sources) {
            let from: string;
            if (copy.from === undefined) from = join(REPO, source);
            // The build stage's output is the repository's own build (see the header comment).
            else if (copy.from === 'build' && source === '/app/dist') from = join(REPO, 'dist');
            else from = inStage(copy.from, source);
            if (!existsSync(from))
              throw new Error(`Dockerfile:${step.line}: COPY source ${source} does not exist in ${copy.from ?? 'the context'}`);
            const target =
              copy.dest.endsWith('/') || copy.sources.length > 1
                ? join(inStage(stage.name, dest), posix.basename(source))
                : inStage(stage.name, dest);
            mkdirSync(dirname(target), { recursive: true });
            cpSync(from, target, { recursive: true });
          }
        } else if (step.op === 'RUN') {
          if (stage.name === 'build') continue; // replaced by the repository's build
          const argv = step.args.split(/\s+/);
          expect(argv.slice(0, 2), `Dockerfile:${step.line}: only npm ci is replayed`).toEqual(['npm', 'ci']);
          // Offline-friendly: the npm cache answers when it can; the flags change no installed file.
          execFileSync('npm', [...argv.slice(1), '--prefer-offline', '--no-audit', '--no-fund'], {
            cwd: inStage(stage.name, workdir),
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, npm_config_update_notifier: 'false' },
          });
        }
      }
    }
    const app = inStage(runtime.name, '/app');
    expect(readdirSync(app).sort()).toEqual(['dist', 'node_modules', 'package.json', 'proto']);
    const installed = readdirSync(join(app, 'node_modules'));
    const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const dep of Object.keys(manifest.dependencies)) expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(true);
    // No development tooling in the image.
    for (const dev of ['typescript', 'vitest', 'kubernetes-models', '@grpc/grpc-js-xds']) {
      expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
    }
    expect(installed.length).toBeGreaterThan(0);
  }, 90_000);

  it('starts with the ENTRYPOINT, answers grpc.health.v1 SERVING, and exits 0 on SIGTERM', async () => {
    const app = inStage(runtime.name, '/app');
    expect(existsSync(join(app, 'dist/cli.js')), 'the previous step assembled /app').toBe(true);

    // The example config, as a mounted volume would provide it, on free loopback ports.
    const configDir = join(work, 'etc-tollgate');
    cpSync(join(REPO, 'examples/default'), configDir, { recursive: true });
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const config = parse(readFileSync(join(configDir, 'tollgate.yaml'), 'utf8')) as Record<string, unknown>;
    config.listen = { grpc: `127.0.0.1:${grpcPort}`, http: `127.0.0.1:${httpPort}`, authz: '127.0.0.1:0' };
    config.shutdown = { notServingSeconds: 0, drainSeconds: 5 };
    writeFileSync(join(configDir, 'tollgate.yaml'), stringify(config));

    const entrypoint = execForm(ops(runtime, 'ENTRYPOINT').at(-1)!.args);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: work, TMPDIR: work };
    for (const step of ops(runtime, 'ENV')) {
      const [key, ...value] = step.args.split('=');
      env[key!] = value.join('=');
    }
    // /nodejs/bin/node in the image; a node of the same major version here.
    child = spawn(nodeBinary(IMAGE_NODE_MAJOR), [...entrypoint.slice(1), '--config', join(configDir, 'tollgate.yaml')], {
      cwd: app,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));

    const health = healthClient(grpcPort);
    try {
      for (const service of ['', 'envoy.service.auth.v3.Authorization']) {
        const status = await Promise.race([
          check(health, service),
          exited.then((code) => {
            throw new Error(`tollgate exited (${code}) before serving:\n${stderr}`);
          }),
        ]);
        expect(status).toBe('SERVING');
      }
    } finally {
      health.close();
    }

    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within 15 s of SIGTERM:\n${stderr}`)), 15_000).unref()),
    ]);
    expect(code, stderr).toBe(0);
  }, 45_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

type HealthClient = grpc.Client & {
  Check(req: { service: string }, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
};

function healthClient(port: number): HealthClient {
  const pkg = loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
  const Health = grpc.makeGenericClientConstructor(pkg['grpc.health.v1.Health'] as grpc.ServiceDefinition, 'Health');
  return new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
}

/** Waits (bounded) until the server accepts connections, then asks once. */
function check(client: HealthClient, service: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  return new Promise((resolve, reject) => {
    client.waitForReady(deadline, (notReady) => {
      if (notReady) return reject(new Error(`no gRPC connection within 20 s: ${notReady.message}`));
      client.Check({ service }, { deadline }, (err, res) => (err ? reject(err) : resolve(res!.status)));
    });
  });
}
