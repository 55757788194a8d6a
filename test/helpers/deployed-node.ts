import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const CONTAINER = join(ROOT, 'k8s/base/tollgate-container.yaml');

/** The V8 flags a pod runs tollgate with: NODE_OPTIONS in k8s/base/tollgate-container.yaml. */
export const DEPLOYED_NODE_ARGS: readonly string[] = (/NODE_OPTIONS, value: ([^}]+?) \}/.exec(readFileSync(CONTAINER, 'utf8'))?.[1] ?? '')
  .split(' ')
  .filter(Boolean);

/** Lets a child `node` import the TypeScript sources directly (see the hooks' own comment). */
export const TS_IMPORT_ARGS: readonly string[] = ['--import', join(ROOT, 'test/revocation/fixtures/register-ts.mjs')];

/** Runs a fixture script to its end under the deployed flags (plus `extraArgs`); resolves with its stdout. */
export function runDeployedNode(script: string, args: string[], extraArgs: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...DEPLOYED_NODE_ARGS, ...extraArgs, ...TS_IMPORT_ARGS, script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code, signal) =>
      code === 0 ? resolve(stdout) : reject(new Error(`${script} exited with ${code ?? signal}: ${stderr.slice(-2000)}`)),
    );
  });
}
