// CPU profile of tollgate under load: `node --cpu-prof` on the server, h2load on one scenario, then
// the top self-time functions, mapped back to src/*.ts through dist's source maps.
// Standalone: npm run build && node bench/profile.mjs [cached|es256-nocache|policy-50] [seconds]
// (run.mjs calls profileScenario() for the cached-token scenario as part of `npm run bench`.)
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkOnce } from './client.mjs';
import { checkRequestFrame } from './encode.mjs';
import { h2load } from './h2load.mjs';
import { startTollgate } from './servers.mjs';
import { claims, generateKeys, jwksOf, signJwt } from './tokens.mjs';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const maps = new Map();

function sourceMapFor(url) {
  if (!maps.has(url)) {
    let map;
    try {
      const file = fileURLToPath(url);
      if (existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch {
      map = undefined;
    }
    maps.set(url, map);
  }
  return maps.get(url);
}

/** "src/pipeline/verify.ts:57" for dist code, "node_modules/x/y.js:12" for dependencies, "node:internal/..." as is. */
function locate({ url, lineNumber, columnNumber }) {
  if (!url) return '';
  if (url.startsWith('file://')) {
    const map = url.includes('/dist/') ? sourceMapFor(url) : undefined;
    const entry = map?.findEntry(lineNumber, columnNumber);
    if (entry?.originalSource) {
      const source = entry.originalSource.startsWith('file://')
        ? fileURLToPath(entry.originalSource)
        : path.resolve(path.dirname(fileURLToPath(url)), entry.originalSource);
      return `${path.relative(REPO, source)}:${entry.originalLine + 1}`;
    }
    return `${path.relative(REPO, fileURLToPath(url))}:${lineNumber + 1}`;
  }
  return `${url}:${lineNumber + 1}`;
}

/** Which part of the stack a location belongs to, for the self-time breakdown. */
function categoryOf(name, location) {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)') return 'V8/native (program)';
  if (location.startsWith('src/')) return 'tollgate src/';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(location);
  if (pkg) return pkg[1];
  if (location.startsWith('node:internal/http2') || location.startsWith('node:internal/stream') || location.startsWith('node:net'))
    return 'node http2/streams';
  if (location.startsWith('node:internal/crypto')) return 'node crypto';
  if (location.startsWith('node:internal/modules')) return 'module loading (startup)';
  return location.startsWith('node:') ? 'node other' : 'native/builtins';
}

/**
 * Self time per function (name + location), largest first; self time by category; and inclusive
 * time of tollgate's own src/ functions (a sample counts once for every src/ function on its stack).
 */
export function summarizeProfile(file, top = 20) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const parent = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const keyOf = new Map(profile.nodes.map((n) => [n.id, `${n.callFrame.functionName || '(anonymous)'}\t${locate(n.callFrame)}`]));
  const self = new Map();
  const inclusive = new Map();
  let idle = 0;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const key = keyOf.get(id);
    if (key === '(idle)\t') {
      idle += us;
      return;
    }
    busy += us;
    self.set(key, (self.get(key) ?? 0) + us);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf.get(at);
      if (!seen.has(k) && k.split('\t')[1].startsWith('src/')) {
        seen.add(k);
        inclusive.set(k, (inclusive.get(k) ?? 0) + us);
      }
    }
  });
  const row = ([key, us]) => {
    const [name, location] = key.split('\t');
    return { name, location, selfMs: us / 1000, pctOfBusy: (100 * us) / busy };
  };
  const categories = new Map();
  for (const [key, us] of self) {
    const [name, location] = key.split('\t');
    const c = categoryOf(name, location);
    categories.set(c, (categories.get(c) ?? 0) + us);
  }
  return {
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    rows: [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(row),
    categories: [...categories].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: us / 1000, pctOfBusy: (100 * us) / busy })),
    srcInclusive: [...inclusive]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(row),
  };
}

/**
 * Runs tollgate under --cpu-prof with `configOptions`, drives `frame` through h2load for `seconds`,
 * stops it (SIGTERM: tollgate drains and exits, which writes the profile) and summarizes.
 */
export async function profileScenario({ dir, name, configOptions, frame, seconds = 5, clients = 4, streams = 32, top = 20 }) {
  const profDir = path.join(dir, `${name}-cpuprof`);
  mkdirSync(profDir, { recursive: true });
  const server = await startTollgate(dir, `${name}-profiled`, configOptions, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] });
  try {
    await checkOnce(server.grpcPort, frame);
    const dataFile = path.join(dir, `${name}-profile.bin`);
    writeFileSync(dataFile, frame);
    const load = await h2load({ port: server.grpcPort, dataFile, seconds, clients, streams });
    await server.stop();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${profDir}: tollgate did not exit cleanly (see ${server.logFile})`);
    return { rps: load.rps, ...summarizeProfile(path.join(profDir, file), top), file: path.join(profDir, file) };
  } finally {
    await server.stop();
  }
}

export function profileTable(summary) {
  const lines = ['Top self time:', '', '| self ms | % of busy | function | location |', '|---:|---:|---|---|'];
  for (const r of summary.rows) lines.push(`| ${r.selfMs.toFixed(0)} | ${r.pctOfBusy.toFixed(1)} | \`${r.name}\` | ${r.location} |`);
  lines.push('', 'Self time by part of the stack:', '', '| part | ms | % of busy |', '|---|---:|---:|');
  for (const c of summary.categories) lines.push(`| ${c.name} | ${c.ms.toFixed(0)} | ${c.pctOfBusy.toFixed(1)} |`);
  lines.push(
    '',
    "tollgate's own functions, inclusive time (callees included):",
    '',
    '| total ms | % of busy | function | location |',
    '|---:|---:|---|---|',
  );
  for (const r of summary.srcInclusive)
    lines.push(`| ${r.selfMs.toFixed(0)} | ${r.pctOfBusy.toFixed(1)} | \`${r.name}\` | ${r.location} |`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const scenario = process.argv[2] ?? 'cached';
  const seconds = Number(process.argv[3] ?? 5);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-profile-'));
  try {
    const keys = generateKeys();
    const jwksPath = path.join(dir, 'jwks.json');
    writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
    const known = {
      cached: [{}, {}, {}],
      'es256-nocache': [{ tokenCache: 0 }, {}, {}],
      'policy-50': [
        { policy: 'context50' },
        { roles: { course: { teacher: ['1000', '1001'], ta: ['4711'] } } },
        { path: '/courses/4711/grades' },
      ],
    };
    if (!known[scenario]) throw new Error(`usage: node bench/profile.mjs [${Object.keys(known).join('|')}] [seconds]`);
    const [config, extraClaims, request] = known[scenario];
    const configOptions = { jwksPath, ...config };
    const frame = checkRequestFrame({ token: signJwt(keys.ES256, claims('profiled-user', extraClaims)), ...request });
    const summary = await profileScenario({ dir, name: scenario, configOptions, frame, seconds });
    console.log(
      `${scenario}: ${summary.rps.toFixed(0)} checks/s under the profiler; busy ${summary.busyMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms`,
    );
    console.log(profileTable(summary));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
