// Opaque tokens and API keys (issue 32) against a cached JWT on the same tollgate: an introspected
// token answered from the introspection cache and an API key each keep ≥ 0.9 of the cached JWT's
// throughput; then a burst of distinct new opaque tokens, each sent several times at once, must make
// exactly one introspection call per distinct token. Part of `npm run bench` (`--only opaque`);
// standalone too:
//   npm run build && node bench/opaque.mjs [--seconds 3] [--rounds 3]
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { checkOnce } from './client.mjs';
import { checkRequestFrame } from './encode.mjs';
import { h2load, requireH2load } from './h2load.mjs';
import { startTollgate } from './servers.mjs';
import { claims, generateKeys, jwksOf, signJwt } from './tokens.mjs';

const SCENARIOS = ['jwt', 'introspected', 'apiKey'];
/** The burst: this many distinct new opaque tokens, each sent this many times at once. */
const BURST_TOKENS = 500;
const BURST_COPIES = 4;

/**
 * Runs the three cached scenarios `rounds` times, alternating, then the burst. Returns the per-round
 * figures ({ jwt: {rps}, introspected: {…}, apiKey: {…} } per round), the introspection calls made
 * during the load (0: every check was a cache hit) and the burst's distinct tokens and calls.
 */
export async function measureOpaque({ dir, seconds, rounds, log = console.log }) {
  // The authorization server: every token is active for ten minutes; calls counted per token.
  const calls = new Map();
  const endpoint = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('token') ?? '';
      calls.set(token, (calls.get(token) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ active: true, sub: 'opaque-user', aud: 'bench-api', roles: ['reader'], exp: Math.floor(Date.now() / 1000) + 600 }),
      );
    });
  });
  await new Promise((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  const totalCalls = () => [...calls.values()].reduce((a, b) => a + b, 0);

  const keys = generateKeys();
  const jwksPath = path.join(dir, 'opaque-jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
  const apiKey = `tg_${randomBytes(32).toString('base64url')}`;
  const apiKeysFile = path.join(dir, 'opaque-api-keys.yaml');
  writeFileSync(
    apiKeysFile,
    stringify([
      { id: 'bench', hash: `sha256:${createHash('sha256').update(apiKey).digest('hex')}`, sub: 'api-user', claims: { roles: ['reader'] } },
    ]),
  );
  const secretFile = path.join(dir, 'opaque-introspection-secret');
  writeFileSync(secretFile, 'bench-introspection-secret');
  const introspectionUrl = `http://127.0.0.1:${endpoint.address().port}/introspect`;

  const opaqueToken = `opaque-${randomBytes(24).toString('base64url')}`;
  const frames = {
    jwt: checkRequestFrame({ token: signJwt(keys.ES256, claims('jwt-user', { roles: ['reader'] })) }),
    introspected: checkRequestFrame({ token: opaqueToken }),
    apiKey: checkRequestFrame({ extraHeaders: { 'x-api-key': apiKey } }),
  };
  const files = {};
  for (const [name, frame] of Object.entries(frames)) writeFileSync((files[name] = path.join(dir, `opaque-${name}.bin`)), frame);

  const server = await startTollgate(dir, 'opaque', { jwksPath, opaque: { introspectionUrl, secretFile, apiKeysFile } });
  try {
    for (const [name, frame] of Object.entries(frames)) {
      const answer = await checkOnce(server.grpcPort, frame);
      if (answer.code !== 0) throw new Error(`opaque ${name}: expected an allow, got code ${answer.code}`);
    }
    const callsBefore = totalCalls();
    for (const name of SCENARIOS) await h2load({ port: server.grpcPort, dataFile: files[name], seconds: 1, clients: 4, streams: 32 });
    const measured = [];
    for (let round = 0; round < rounds; round++) {
      const row = {};
      for (const name of SCENARIOS) {
        const run = await h2load({ port: server.grpcPort, dataFile: files[name], seconds, clients: 4, streams: 32 });
        if (run.failed + run.errored > 0) throw new Error(`opaque ${name}: ${run.failed} failed, ${run.errored} errored`);
        row[name] = { rps: run.rps };
      }
      measured.push(row);
      log(
        `  round ${round + 1}: cached JWT ${row.jwt.rps.toFixed(0)}/s; introspected (cache hit) ${row.introspected.rps.toFixed(0)}/s; API key ${row.apiKey.rps.toFixed(0)}/s`,
      );
    }
    const callsDuringLoad = totalCalls() - callsBefore;

    // The burst: every copy of every token is sent before any answer can come back.
    const burstTokens = Array.from({ length: BURST_TOKENS }, (_, i) => `burst-${i}-${randomBytes(16).toString('base64url')}`);
    const burstFrames = burstTokens.flatMap((token) => Array.from({ length: BURST_COPIES }, () => checkRequestFrame({ token })));
    const burstBefore = totalCalls();
    const answers = await Promise.all(burstFrames.map((frame) => checkOnce(server.grpcPort, frame, 30_000)));
    const burst = {
      distinct: BURST_TOKENS,
      checks: burstFrames.length,
      allowed: answers.filter((a) => a.code === 0).length,
      calls: totalCalls() - burstBefore,
      duplicates: burstTokens.filter((t) => (calls.get(t) ?? 0) > 1).length,
    };
    log(
      `  burst: ${burst.checks} checks of ${burst.distinct} new tokens → ${burst.calls} introspection calls (${burst.duplicates} tokens asked about twice)`,
    );
    return { rounds: measured, callsDuringLoad, burst };
  } finally {
    await server.stop();
    endpoint.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' } } });
  requireH2load();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-opaque-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const { targets } = await import('./report.mjs');
  const opaque = await measureOpaque({ dir, seconds: Number(args.seconds), rounds: Number(args.rounds) });
  for (const t of targets({ scenarios: [], opaque })) console.log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`);
}
