// The cost of a Check answered from the context-source cache (the token lacks the course; the roles
// come from the cache) against a token-only Check (the token lists the course) on the same tollgate,
// same rule, same path. Part of `npm run bench` (`--only context-cache`); standalone too:
//   npm run build && node bench/context-cache.mjs [--seconds 3] [--rounds 3]
// Both scenarios run at saturation (h2load, 4 connections × 32 streams), alternating, ROUNDS each;
// the target (bench/report.mjs) is on the median of the per-round CPU-per-check ratios.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkOnce } from './client.mjs';
import { checkRequestFrame } from './encode.mjs';
import { h2load, requireH2load } from './h2load.mjs';
import { cpuMicros } from './proc.mjs';
import { startTollgate } from './servers.mjs';
import { claims, generateKeys, jwksOf, signJwt } from './tokens.mjs';

const SCENARIOS = ['token', 'cache'];

/**
 * Runs both scenarios `rounds` times, alternating, in `dir`. Returns the per-round figures
 * ({ token: {rps, cpuPerCheck}, cache: {…} } per round) and the domain calls made during the load
 * (0: every lookup was a cache hit).
 */
export async function measureContextCache({ dir, seconds, rounds, log = console.log }) {
  // The domain service: every subject is a TA of every course.
  let domainCalls = 0;
  const domain = createServer((_req, res) => {
    domainCalls++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"roles":["ta"]}');
  });
  await new Promise((resolve) => domain.listen(0, '127.0.0.1', resolve));

  const keys = generateKeys();
  const jwksPath = path.join(dir, 'context-jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
  // The same subject and the same claim shape; only the course entry differs.
  const tokenOnly = signJwt(keys.ES256, claims('teacher-user', { roles: { course: { teacher: ['4711'] }, group: { member: ['1'] } } }));
  const fromCache = signJwt(keys.ES256, claims('teacher-user', { roles: { group: { member: ['1'] } } }));
  const frames = {
    token: checkRequestFrame({ token: tokenOnly, path: '/courses/4711/grades' }),
    cache: checkRequestFrame({ token: fromCache, path: '/courses/4711/grades' }),
  };
  const files = {};
  for (const [name, frame] of Object.entries(frames)) writeFileSync((files[name] = path.join(dir, `context-${name}.bin`)), frame);

  const url = `http://127.0.0.1:${domain.address().port}/subjects/{sub}/{context}/{id}/roles`;
  const server = await startTollgate(dir, 'context-cache', { jwksPath, contextSourceUrl: url });
  try {
    for (const [name, frame] of Object.entries(frames)) {
      const answer = await checkOnce(server.grpcPort, frame);
      if (answer.code !== 0) throw new Error(`context-cache ${name}: expected an allow, got code ${answer.code}`);
    }
    if (domainCalls !== 1) throw new Error(`context-cache: expected exactly one domain call before the load, saw ${domainCalls}`);
    const callsBefore = domainCalls;

    // Warm-up: JIT and connection set-up stay out of the measured rounds.
    for (const name of SCENARIOS) await h2load({ port: server.grpcPort, dataFile: files[name], seconds: 1, clients: 4, streams: 32 });
    const measured = [];
    for (let round = 0; round < rounds; round++) {
      const row = {};
      for (const name of SCENARIOS) {
        const cpuBefore = cpuMicros(server.pid);
        const run = await h2load({ port: server.grpcPort, dataFile: files[name], seconds, clients: 4, streams: 32 });
        if (run.failed + run.errored > 0) throw new Error(`context-cache ${name}: ${run.failed} failed, ${run.errored} errored`);
        row[name] = { rps: run.rps, cpuPerCheck: (cpuMicros(server.pid) - cpuBefore) / run.done };
      }
      measured.push(row);
      log(
        `  round ${round + 1}: token-only ${row.token.rps.toFixed(0)}/s at ${row.token.cpuPerCheck.toFixed(1)} µs CPU/check; from the context cache ${row.cache.rps.toFixed(0)}/s at ${row.cache.cpuPerCheck.toFixed(1)} µs`,
      );
    }
    return { rounds: measured, domainCallsDuringLoad: domainCalls - callsBefore };
  } finally {
    await server.stop();
    domain.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' } } });
  requireH2load();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-context-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const { targets } = await import('./report.mjs');
  const contextCache = await measureContextCache({ dir, seconds: Number(args.seconds), rounds: Number(args.rounds) });
  for (const t of targets({ scenarios: [], contextCache })) console.log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`);
}
