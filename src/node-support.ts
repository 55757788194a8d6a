import { readFileSync } from 'node:fs';

/** The Node.js majors package.json's `engines` names (`^24 || ^26`): the maintained LTS lines tested in CI. */
export const SUPPORTED_NODE_MAJORS: readonly number[] = [
  ...(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }).engines.node.matchAll(
    /\^(\d+)/g,
  ),
].map((m) => Number(m[1]));

/**
 * A warning for a Node.js line tollgate is not tested on (npm only warns about `engines` at install,
 * and `npx` or a copied `dist/` skip even that), or undefined on a supported one. A warning, not a
 * refusal: an operator mid-upgrade keeps a running authorizer, and knows why to move.
 */
export function unsupportedNodeWarning(version: string, supported: readonly number[] = SUPPORTED_NODE_MAJORS): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (supported.includes(major)) return undefined;
  return `tollgate: Node.js ${version} is not supported; use Node.js ${supported.join(' or ')} (package.json engines), the lines tollgate is tested on`;
}
