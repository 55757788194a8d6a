// DPoP through the whole server (issue 31): a DPoP-bound token, cached, with a new proof on every request,
// against the same cached check with a Bearer token; and the replay cache's memory.
// Part of `npm run bench` (`--only dpop`); standalone too (the ES256 verify cost from verify-ceiling.mjs):
//   npm run build && node bench/dpop.mjs [--rounds 3]
// One tollgate, the bench provider with `dpop: {}` (defaults: maxAgeSeconds 60, skew 30 s, no Redis: the
// replay cache is the replica's memory). Each round drives, one after another, closed loop over h2c gRPC
// with bench/load-node.mjs (h2load repeats one frame, and a repeated proof is a replay):
//   bearer  one Bearer token, cached: the cached path
//   dpop    one DPoP-bound token (cnf.jkt), cached, each request with its own ES256 proof (new jti, iat
//           now), signed here just before the round, sent once each (--count): every check verifies one
//           proof signature and remembers one jti
//   fresh   a new ES256 Bearer token every request (distinct sub and jti), each sent once: every check
//           verifies one token signature, in this server under this load; the control for what one
//           verification costs here, which the one-core ceiling (verify-ceiling.mjs, an idle core) may not be
// CPU µs per check: the server's utime+stime (/proc) ÷ the checks it counted. The target (bench/report.mjs)
// is on the median of the per-round differences dpop − bearer − one ES256 verification (this run's
// ceiling): at most DPOP_ADDED_US.
// Memory: a second tollgate (--expose-gc) takes MEMORY_PROOFS fresh proofs; the V8 heap after a full GC
// before and after, over the replay-cache entries it then holds (tollgate_dpop_replay_cache_entries),
// gives bytes per remembered proof; at 10,000 proofs/s the cache holds rate × window entries (window:
// maxAgeSeconds + skew after arrival for a client with a right clock; up to twice the skew for one whose
// clock runs ahead), at most its cap (1,000,000; a full cache refuses proofs without Redis), in MB.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkOnce, checksIn } from './client.mjs';
import { checkRequestFrame, splitFrames } from './encode.mjs';
import { memoryAfterGc, runNodeJson, serverNode } from './proc.mjs';
import { measuredLoad } from './measured-load.mjs';
import { startTollgate } from './servers.mjs';
import { AUDIENCE, ISSUER, claims, distinctTokens, generateKeys, jwksOf, signJwt } from './tokens.mjs';

const BENCH = fileURLToPath(new URL('./', import.meta.url));
/** What encode.mjs puts in the CheckRequest: the proof's htm and htu must name it. */
const METHOD = 'GET';
const HOST = 'api.bench.invalid';
const PATH = '/api/orders/42';
const HTU = `https://${HOST}${PATH}`;
const PROOFS_PER_ROUND = 20_000;
const WARMUP_PROOFS = 5_000;
const MEMORY_PROOFS = 60_000;
export const DPOP_RATE = 10_000; // proofs/s the memory figure is reported at (issue 31)
// The provider's defaults (src/config/providers.ts): a proof is remembered for maxAge + twice the skew.
const MAX_AGE_SECONDS = 60;
const SKEW_SECONDS = 30;
export const REPLAY_CAP = 1_000_000; // MAX_REMEMBERED_PROOFS in src/pipeline/dpop-replay.ts

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const sha256 = (data) => createHash('sha256').update(data).digest('base64url');

/** The client's DPoP key (P-256), its public JWK and RFC 7638 thumbprint. */
function clientKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { kty, crv, x, y }, jkt: sha256(JSON.stringify({ crv, kty, x, y })) };
}

/** `count` distinct proofs for `token`, iat now, as frames ready to send once each. */
function proofFrames(key, token, count, prefix) {
  const header = b64url({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk });
  const ath = sha256(token);
  const iat = Math.floor(Date.now() / 1000);
  const frames = new Array(count);
  for (let i = 0; i < count; i++) {
    const input = `${header}.${b64url({ jti: `${prefix}-${i}`, htm: METHOD, htu: HTU, iat, ath })}`;
    const proof = `${input}.${sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    frames[i] = checkRequestFrame({
      method: METHOD,
      host: HOST,
      path: PATH,
      requestId: `dpop-${prefix}-${i}`,
      extraHeaders: { authorization: `DPoP ${token}`, dpop: proof },
    });
  }
  return Buffer.concat(frames);
}

function providers(jwksPath) {
  return [
    {
      name: 'bench',
      issuer: ISSUER,
      audiences: [AUDIENCE],
      algorithms: ['ES256'],
      jwks: { file: jwksPath },
      clockSkewSeconds: SKEW_SECONDS,
      fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
      claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }],
      dpop: { algorithms: ['ES256'], maxAgeSeconds: MAX_AGE_SECONDS },
    },
  ];
}

/** Runs the rounds and the memory fill in `dir`; returns per-round figures, the memory figure and the load. */
export async function measureDpop({ dir, rounds, connections = 4, streams = 32, log = console.log }) {
  const loadStart = loadAverage();
  const keys = generateKeys();
  const jwksPath = path.join(dir, 'dpop-jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
  const key = clientKey();
  const bearerToken = signJwt(keys.ES256, claims('dpop-bearer-user'));
  const boundToken = signJwt(keys.ES256, claims('dpop-user', { cnf: { jkt: key.jkt } }));
  const bearerFile = path.join(dir, 'dpop-bearer.bin');
  writeFileSync(bearerFile, checkRequestFrame({ token: bearerToken, method: METHOD, host: HOST, path: PATH, requestId: 'dpop-bearer' }));
  const config = {
    jwksPath,
    sections: { providers: providers(jwksPath), rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }] },
  };
  let batch = 0;
  /** A file of `count` fresh proofs, signed now (a proof is good for maxAgeSeconds from its iat). */
  const freshProofs = (count) => {
    const file = path.join(dir, `dpop-proofs-${++batch}.bin`);
    writeFileSync(file, proofFrames(key, boundToken, count, `b${batch}`));
    return file;
  };

  /** A file of `count` new Bearer tokens, one request each: every check is a first verification. */
  const freshTokens = (count) => {
    const file = path.join(dir, `dpop-fresh-tokens-${++batch}.bin`);
    const tokens = distinctTokens(keys.ES256, count, `fresh-${batch}`);
    writeFileSync(
      file,
      Buffer.concat(
        tokens.map((token, i) => checkRequestFrame({ token, method: METHOD, host: HOST, path: PATH, requestId: `fresh-${batch}-${i}` })),
      ),
    );
    return file;
  };

  const server = await startTollgate(dir, 'dpop', config);
  let measured;
  try {
    await validate(server, bearerFile, freshProofs(2));
    const drive = (file, count) => driven(server, file, { count, connections, streams });
    // Warm-up (JIT, both tokens verified and cached).
    await drive(bearerFile, WARMUP_PROOFS);
    await drive(freshProofs(WARMUP_PROOFS), WARMUP_PROOFS);
    await drive(freshTokens(WARMUP_PROOFS), WARMUP_PROOFS);
    measured = [];
    for (let round = 0; round < rounds; round++) {
      const proofs = freshProofs(PROOFS_PER_ROUND);
      const tokens = freshTokens(PROOFS_PER_ROUND);
      const row = {
        bearer: await drive(bearerFile, PROOFS_PER_ROUND),
        dpop: await drive(proofs, PROOFS_PER_ROUND),
        fresh: await drive(tokens, PROOFS_PER_ROUND),
      };
      measured.push(row);
      const f = (r) => `${r.rps.toFixed(0)}/s ${r.cpuUsPerCheck.toFixed(1)} µs`;
      log(
        `  round ${round + 1}: bearer ${f(row.bearer)}; dpop ${f(row.dpop)} (+${(row.dpop.cpuUsPerCheck - row.bearer.cpuUsPerCheck).toFixed(1)} µs); ` +
          `fresh Bearer ${f(row.fresh)} (+${(row.fresh.cpuUsPerCheck - row.bearer.cpuUsPerCheck).toFixed(1)} µs)`,
      );
    }
  } finally {
    await server.stop();
  }

  // ---- the replay cache's memory --------------------------------------------------------------------
  const memFile = path.join(dir, 'dpop-memprobe.json');
  const probed = await startTollgate(dir, 'dpop-memory', config, { nodeArgs: ['--expose-gc'], env: { BENCH_MEMFILE: memFile } });
  let memory;
  try {
    await validate(probed, bearerFile, freshProofs(2));
    const entriesBefore = await replayEntries(probed.httpPort);
    const before = await memoryAfterGc(probed.child, memFile);
    const fill = await driven(probed, freshProofs(MEMORY_PROOFS), { count: MEMORY_PROOFS, connections, streams });
    const after = await memoryAfterGc(probed.child, memFile);
    const entries = (await replayEntries(probed.httpPort)) - entriesBefore;
    if (entries < MEMORY_PROOFS * 0.99) throw new Error(`dpop: the replay cache holds ${entries} new proofs of ${MEMORY_PROOFS} sent`);
    const bytesPerProof = ((after.heapUsedMB - before.heapUsedMB) * 2 ** 20) / entries;
    // A proof is kept until its iat + maxAgeSeconds + skew: maxAge + skew after arrival for a client whose
    // clock agrees with tollgate's (what the bench sends), up to maxAge + twice the skew for one ahead.
    const windowSeconds = MAX_AGE_SECONDS + SKEW_SECONDS;
    const worstWindowSeconds = MAX_AGE_SECONDS + 2 * SKEW_SECONDS;
    const heldAtRate = Math.min(DPOP_RATE * windowSeconds, REPLAY_CAP);
    memory = {
      proofs: MEMORY_PROOFS,
      entries,
      fillRps: fill.rps,
      heapBeforeMB: before.heapUsedMB,
      heapAfterMB: after.heapUsedMB,
      rssAfterMB: after.rssMB,
      bytesPerProof,
      windowSeconds,
      worstWindowSeconds,
      worstAtRate: DPOP_RATE * worstWindowSeconds,
      rate: DPOP_RATE,
      wantedAtRate: DPOP_RATE * windowSeconds,
      heldAtRate,
      mbAtRate: (heldAtRate * bytesPerProof) / 2 ** 20,
      cap: REPLAY_CAP,
      mbAtCap: (REPLAY_CAP * bytesPerProof) / 2 ** 20,
    };
    log(
      `  replay cache: ${entries} proofs took ${(after.heapUsedMB - before.heapUsedMB).toFixed(1)} MB of heap (${bytesPerProof.toFixed(0)} B each); ` +
        `at ${DPOP_RATE}/s × ${windowSeconds} s: ${memory.wantedAtRate.toLocaleString('en')} proofs, held ${heldAtRate.toLocaleString('en')} ≈ ${memory.mbAtRate.toFixed(0)} MB (cap ${REPLAY_CAP.toLocaleString('en')} ≈ ${memory.mbAtCap.toFixed(0)} MB)`,
    );
  } finally {
    await probed.stop();
  }
  return { rounds: measured, memory, connections, streams, proofsPerRound: PROOFS_PER_ROUND, loadStart, loadEnd: loadAverage() };
}

/** The Bearer token allowed; a fresh proof allowed once, and refused when replayed. */
async function validate(server, bearerFile, proofsFile) {
  const bearer = await checkOnce(server.grpcPort, readFileSync(bearerFile));
  if (bearer.code !== 0) throw new Error(`dpop: the Bearer token answered code ${bearer.code}; see ${server.logFile}`);
  const [first] = splitFrames(readFileSync(proofsFile));
  const fresh = await checkOnce(server.grpcPort, first);
  if (fresh.code !== 0) throw new Error(`dpop: a fresh proof answered code ${fresh.code}; see ${server.logFile}`);
  const replayed = await checkOnce(server.grpcPort, first);
  if (replayed.code !== 16) throw new Error(`dpop: a replayed proof answered code ${replayed.code}, not 16; see ${server.logFile}`);
}

/** One node-generator run of exactly `count` checks over h2c, measured; every check must be allowed. */
async function driven(server, framesFile, { count, connections, streams }) {
  const { load, cpu, decisions } = await measuredLoad(
    server,
    ['--frames', framesFile, '--count', String(count), '--connections', String(connections), '--streams', String(streams)],
    120_000,
  );
  const checks = checksIn(decisions);
  const refused = checks - checksIn(decisions, (k) => k.startsWith('allow/'));
  if (load.failed > 0 || refused > 0)
    throw new Error(
      `dpop: ${load.failed} failed RPCs, ${refused} checks not allowed (${JSON.stringify(decisions)}); see ${server.logFile}`,
    );
  return { rps: load.rps, p50Ms: load.p50Ms, p99Ms: load.p99Ms, checks, cpuUsPerCheck: cpu / checks };
}

async function replayEntries(httpPort) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^tollgate_dpop_replay_cache_entries (\S+)$/m.exec(text)?.[1] ?? 0);
}

const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-dpop-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const { dpopLines, targets } = await import('./report.mjs');
  const ceiling = await runNodeJson(path.join(BENCH, 'verify-ceiling.mjs'), ['1'], 60_000, { node: serverNode.path });
  const dpop = await measureDpop({ dir, rounds: Number(args.rounds) });
  const results = { scenarios: [], ceiling, dpop };
  for (const line of dpopLines(results)) console.log(line);
  for (const t of targets(results)) console.log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`);
  process.exit(0);
}
