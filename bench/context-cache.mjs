// Quick check (not part of `npm run bench`'s targets): the cost of a Check answered from the
// context-source cache (the token lacks the course; the roles come from the cache) against a
// token-only Check (the token lists the course) on the same tollgate, same rule, same path.
//
// usage: npm run build && node bench/context-cache.mjs [--seconds 3] [--rounds 3]
// Both scenarios run at saturation (h2load, 4 connections × 32 streams), alternating, ROUNDS each;
// the figures are the medians of CPU per Check and of throughput. Target: within 10 %.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkOnce } from './client.mjs';
import { checkRequestFrame } from './encode.mjs';
import { h2load, requireH2load } from './h2load.mjs';
import { cpuMicros } from './proc.mjs';
import { startTollgate } from './servers.mjs';
import { claims, generateKeys, jwksOf, signJwt } from './tokens.mjs';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' } } });
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

requireH2load();
const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-context-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// The domain service: every subject is a TA of every course.
let domainCalls = 0;
const domain = createServer((_req, res) => {
  domainCalls++;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"roles":["ta"]}');
});
await new Promise((resolve) => domain.listen(0, '127.0.0.1', resolve));

const keys = generateKeys();
const jwksPath = path.join(dir, 'jwks.json');
writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
// The same subject and the same claim shape; only the course entry differs.
const tokenOnly = signJwt(keys.ES256, claims('teacher-user', { roles: { course: { teacher: ['4711'] }, group: { member: ['1'] } } }));
const fromCache = signJwt(keys.ES256, claims('teacher-user', { roles: { group: { member: ['1'] } } }));
const frames = {
  token: checkRequestFrame({ token: tokenOnly, path: '/courses/4711/grades' }),
  cache: checkRequestFrame({ token: fromCache, path: '/courses/4711/grades' }),
};
const files = {};
for (const [name, frame] of Object.entries(frames)) writeFileSync((files[name] = path.join(dir, `${name}.bin`)), frame);

const url = `http://127.0.0.1:${domain.address().port}/subjects/{sub}/{context}/{id}/roles`;
const server = await startTollgate(dir, 'context-cache', { jwksPath, contextSourceUrl: url });
try {
  for (const [name, frame] of Object.entries(frames)) {
    const answer = await checkOnce(server.grpcPort, frame);
    if (answer.code !== 0) throw new Error(`${name}: expected an allow, got code ${answer.code}`);
  }
  if (domainCalls !== 1) throw new Error(`expected exactly one domain call before the load, saw ${domainCalls}`);

  // Warm-up: JIT and connection set-up stay out of the measured rounds.
  for (const name of ['token', 'cache'])
    await h2load({ port: server.grpcPort, dataFile: files[name], seconds: 1, clients: 4, streams: 32 });
  const results = { token: [], cache: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of ['token', 'cache']) {
      const cpuBefore = cpuMicros(server.pid);
      const run = await h2load({ port: server.grpcPort, dataFile: files[name], seconds: SECONDS, clients: 4, streams: 32 });
      const cpuPerCheck = (cpuMicros(server.pid) - cpuBefore) / run.done;
      if (run.failed + run.errored > 0) throw new Error(`${name}: ${run.failed} failed, ${run.errored} errored`);
      results[name].push({ rps: run.rps, cpuPerCheck });
      console.log(`round ${round + 1} ${name.padEnd(5)}: ${run.rps.toFixed(0)} checks/s, ${cpuPerCheck.toFixed(1)} µs CPU per check`);
    }
  }
  const summary = (name) => ({ rps: median(results[name].map((r) => r.rps)), cpu: median(results[name].map((r) => r.cpuPerCheck)) });
  const token = summary('token');
  const cache = summary('cache');
  const cpuRatio = cache.cpu / token.cpu;
  const rpsRatio = cache.rps / token.rps;
  console.log(`token-only:   ${token.rps.toFixed(0)} checks/s, ${token.cpu.toFixed(1)} µs CPU/check`);
  console.log(`from cache:   ${cache.rps.toFixed(0)} checks/s, ${cache.cpu.toFixed(1)} µs CPU/check`);
  console.log(
    `cache/token:  CPU ×${cpuRatio.toFixed(3)}, throughput ×${rpsRatio.toFixed(3)}; domain calls during the load: ${domainCalls - 1}`,
  );
  console.log(
    `${cpuRatio <= 1.1 ? 'PASS' : 'FAIL'} a check answered from the context cache costs within 10 % of a token-only check (CPU per check)`,
  );
} finally {
  await server.stop();
  domain.close();
}
