// `npm run bench`: tollgate under load, against a no-op grpc-js Check server, on this machine.
// Writes bench/RESULTS.md and prints the figures and the PASS/FAIL lines of the targets.
//
// usage: node bench/run.mjs [--seconds 5] [--only cached,policy-50,policy-scale,denial-flood,mint,dpop,...] [--no-write]
//        [--skip-memory] [--skip-scaling] [--skip-profile] [--node PATH] [--as-deployed]
// --as-deployed runs the throughput and latency scenarios' servers (no-op included) in the pod's memory
// limit with the manifests' NODE_OPTIONS (k8s/base/tollgate-container.yaml), as a pod runs them.
// --node PATH runs the measured servers (and the verification ceiling) on another node binary, e.g. a
// line from .ci/install-node, so two runs show what a runtime upgrade buys; RESULTS.md records both.
//        node bench/run.mjs --revocation-ha: only revocation propagation through single Redis, Sentinel and
//        Cluster (bench/revocation-ha/, writes bench/RESULTS-revocation-ha.md)
//        node bench/run.mjs --soak 5: only the soak (five minutes of distinct tokens and revocations)
//        node bench/run.mjs --soak 5 --reload-storm: the soak with one config reload (SIGHUP) a second
//        node bench/run.mjs --observability: only the decision log, denial-line cap and tracing costs
//        (bench/observability.mjs, writes bench/RESULTS-observability.md)
// Needs `npm run build` first (npm run bench does it) and h2load (apt-get install nghttp2-client).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkOnce, checksIn, decisionCounts, diffCounts } from './client.mjs';
import { LARGE_RULES, REVOKED_JTI, writeRevocationLog } from './config/generate.mjs';
import { checkRequestFrame } from './encode.mjs';
import { h1load, h2load, requireH2load } from './h2load.mjs';
import {
  MAX_RUN_SECONDS,
  cpuMicros,
  memory,
  memoryAfterGc,
  residentBreakdown,
  runNodeJson,
  serverNode,
  sleep,
  useServerNode,
} from './proc.mjs';
import { measureContextCache } from './context-cache.mjs';
import { measureDpop } from './dpop.mjs';
import { measureOpaque } from './opaque.mjs';
import { measuredLoad } from './measured-load.mjs';
import { measureMint } from './mint.mjs';
import { measurePolicyMemory, measurePolicyScale } from './policy-scale.mjs';
import { profileScenario } from './profile.mjs';
import { machineInfo, printSummary, residentText, writeResults } from './report.mjs';
import { runSoak, soakTargets } from './soak.mjs';
import { podMemoryCgroup } from './memory-limit.mjs';
import { DEPLOYED_NODE_ARGS, startNoop, startTollgate } from './servers.mjs';
import { claims, distinctTokens, generateKeys, jwksOf, signJwt, withBadSignature } from './tokens.mjs';

const BENCH = fileURLToPath(new URL('./', import.meta.url));
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'skip-memory': { type: 'boolean', default: false },
    'skip-scaling': { type: 'boolean', default: false },
    'skip-profile': { type: 'boolean', default: false },
    node: { type: 'string' },
    'revocation-ha': { type: 'boolean', default: false },
    soak: { type: 'string' },
    'reload-storm': { type: 'boolean', default: false },
    observability: { type: 'boolean', default: false },
    'as-deployed': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP_SECONDS = 1;
const CLIENTS = 4; // HTTP/2 connections (Envoy keeps a few per worker to the authorizer)
const STREAMS = 32; // concurrent streams per connection: 128 checks in flight at saturation
// Half rate: --rps per connection, one stream each. With many streams per connection h2load's rate
// timer releases requests in bursts (p50 of several ms even on an idle no-op server), which measures
// the burst, not the server. 8 × 1 leaves headroom: at half saturation ~1-4 checks are in flight.
const HALF_CLIENTS = 8;
const HALF_STREAMS = 1;
const ROUNDS = 5; // baseline and cached-token runs alternate; the median of their ratios counts (noisy machine)
// The HTTP authorization port: HTTP/1.1 without pipelining, one check in flight per connection, so
// concurrency comes from connections (nginx and Envoy keep a pool of keep-alive connections).
const H1_CLIENTS = 64;
const TRANSPORT_ROUNDS = 3;
const CONTEXT_ROUNDS = 3;
const POLICY_ROUNDS = 5; // three servers per round; the ratios move by a few % between rounds
const MINT_ROUNDS = 5; // more than the others: the hit and the cached path differ by tens of µs on a noisy machine
const DPOP_ROUNDS = 5; // like MINT_ROUNDS: the figure is a difference of tens of µs between two loads
const REFERENCE_SECONDS = 3; // no-op server at a scenario's half rate
const DISTINCT = 10_000;
const MEMORY_TOKENS = 100_000;
const REVOCATIONS = 100_000;
const IDLE_SETTLE_SECONDS = 60; // idle RSS is read this long after the first check: V8 gives back its start-up heap about 30 s after the last GC
// Denial flood: expired tokens (refused before any signature work) at this rate beside saturating valid
// checks; valid throughput with and without the flood alternates for FLOOD_ROUNDS rounds, on tollgate and
// on the no-op server (the same flood costs the transport its share of the core too).
const FLOOD_RPS = 10_000;
const FLOOD_CLIENTS = 8;
const FLOOD_STREAMS = 16; // enough in flight that the flood's rate is not capped by the server's latency under saturation
const FLOOD_ROUNDS = 5;
const only = args.only ? new Set(args.only.split(',')) : undefined;
const want = (id) => !only || only.has(id);
const log = (line) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** The Redis topology bench reuses the tests' Redis launchers, so vitest runs it (TypeScript). */
function revocationHa() {
  const env = { ...process.env, ...(args['no-write'] ? { REVOCATION_BENCH_WRITE: '0' } : {}) };
  const run = spawnSync('npx', ['vitest', 'run', '--config', path.join(BENCH, 'revocation-ha/vitest.config.ts')], {
    stdio: 'inherit',
    env,
  });
  process.exit(run.status ?? 1);
}

/** Observability costs run in their own process, with their own rounds and results file. */
function observability() {
  const run = spawnSync(
    process.execPath,
    [path.join(BENCH, 'observability.mjs'), '--seconds', args.seconds, ...(args['no-write'] ? ['--no-write'] : [])],
    { stdio: 'inherit' },
  );
  process.exit(run.status ?? 1);
}

async function main() {
  if (args['revocation-ha']) return revocationHa();
  if (args.observability) return observability();
  const started = Date.now();
  setTimeout(() => {
    console.error(`bench: still running after ${MAX_RUN_SECONDS / 60} minutes; giving up`);
    process.exit(1);
  }, MAX_RUN_SECONDS * 1000).unref();
  if (args.node) useServerNode(args.node);
  const h2loadVersion = requireH2load();
  if (!existsSync(path.join(BENCH, '../dist/cli.js')))
    throw new Error('dist/cli.js is missing: run `npm run build` first (npm run bench does)');
  const machine = machineInfo(h2loadVersion);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  // --as-deployed: the throughput and latency scenarios run the no-op and tollgate as the manifests run
  // tollgate, in the pod's memory limit with their NODE_OPTIONS (V8 sizes its heap from both).
  const deployedPod = args['as-deployed'] ? podMemoryCgroup('tollgate-bench-deployed', log) : undefined;
  process.on('exit', () => deployedPod?.dispose());
  const serverProcess = deployedPod ? { nodeArgs: DEPLOYED_NODE_ARGS, cgroup: deployedPod.dir } : {};
  machine.serverProcess = deployedPod ? { nodeArgs: DEPLOYED_NODE_ARGS, limit: deployedPod.limit } : undefined;
  log(
    `work dir ${dir}; ${machine.nproc} CPUs, ${machine.cpuModel}, servers on node ${machine.serverNode} (${serverNode.path}), bench on node ${machine.node}, load ${machine.loadStart}`,
  );

  // ---- keys, tokens, frames --------------------------------------------------------------------
  const keys = generateKeys();
  const jwksPath = path.join(dir, 'jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
  const frameFile = (name, frame) => {
    const file = path.join(dir, `${name}.bin`);
    writeFileSync(file, frame);
    return file;
  };
  const frameOf = (token, extra) => checkRequestFrame({ token, ...extra });
  const now = Math.floor(Date.now() / 1000);
  const contextRoles = { course: { teacher: Array.from({ length: 20 }, (_, i) => String(1000 + i)), ta: ['4711', '4712'] } };
  const tokens = {
    es256: signJwt(keys.ES256, claims('bench-user')),
    rs256: signJwt(keys.RS256, claims('bench-user-rsa')),
    eddsa: signJwt(keys.EdDSA, claims('bench-user-ed')),
    expired: signJwt(keys.ES256, claims('expired-user', { iat: now - 7200, exp: now - 3600 })),
    policy: signJwt(keys.ES256, claims('teacher-user', { roles: contextRoles })),
    revoked: signJwt(keys.ES256, claims('revoked-user', { jti: REVOKED_JTI })),
  };
  tokens.badSignature = withBadSignature(tokens.es256);
  log(`signing ${MEMORY_TOKENS} ES256 and ${DISTINCT} RS256 distinct tokens`);
  const es256Many = distinctTokens(keys.ES256, MEMORY_TOKENS, 'es-user');
  const rs256Many = distinctTokens(keys.RS256, DISTINCT, 'rs-user');
  const manyFile = (name, list) =>
    frameFile(name, Buffer.concat(list.map((t, i) => checkRequestFrame({ token: t, requestId: `bench-${i}` }))));
  const files = {
    es256: frameFile('es256', frameOf(tokens.es256)),
    rs256: frameFile('rs256', frameOf(tokens.rs256)),
    eddsa: frameFile('eddsa', frameOf(tokens.eddsa)),
    badSignature: frameFile('bad-signature', frameOf(tokens.badSignature)),
    expired: frameFile('expired', frameOf(tokens.expired)),
    policy: frameFile('policy', frameOf(tokens.policy, { path: '/courses/4711/grades' })),
    es256Distinct: manyFile('es256-10k', es256Many.slice(0, DISTINCT)),
    rs256Distinct: manyFile('rs256-10k', rs256Many),
    es256Memory: manyFile('es256-100k', es256Many),
    es256Oldest: manyFile('es256-oldest', es256Many.slice(0, 2000)),
  };
  const revocationLog = path.join(dir, 'revocations.log');
  writeRevocationLog(revocationLog, REVOCATIONS);
  const base = { jwksPath };

  if (args.soak) {
    const soak = await runSoak({
      dir,
      base,
      frames: files.es256Memory,
      minutes: Number(args.soak),
      reloadStorm: args['reload-storm'],
      log,
    });
    console.log(
      `\nsoak (${soak.minutes} min, load ${machine.loadStart} → ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}): ${soak.checks} checks at ${soak.rps.toFixed(0)}/s`,
    );
    for (const t of soakTargets(soak)) console.log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`);
    return;
  }

  // ---- signature-verification ceiling (own process, one core) ---------------------------------------
  log('verification ceiling: crypto.verify ES256, RS256 and EdDSA, 2 s each, one core');
  const ceiling = await runNodeJson(path.join(BENCH, 'verify-ceiling.mjs'), ['2'], 60_000, { node: serverNode.path });
  log(
    `ceiling: ES256 ${ceiling.ES256.toFixed(0)}/s, RS256 ${ceiling.RS256.toFixed(0)}/s, EdDSA ${ceiling.EdDSA.toFixed(0)}/s (jose.jwtVerify: ${ceiling.jose_ES256.toFixed(0)}, ${ceiling.jose_RS256.toFixed(0)}, ${ceiling.jose_EdDSA.toFixed(0)})`,
  );

  // ---- scenarios -----------------------------------------------------------------------------
  const scenarios = [
    {
      id: 'cached',
      title: 'one token repeated (cache hits)',
      config: {},
      data: files.es256,
      expect: [[frameOf(tokens.es256), 0]],
    },
    {
      id: 'es256-nocache',
      title: 'distinct ES256, cache off (h2load, 1 token, full verification each check)',
      config: { tokenCache: 0 },
      data: files.es256,
      ceiling: 'ES256',
      expect: [[frameOf(tokens.es256), 0]],
    },
    {
      id: 'rs256-nocache',
      title: 'distinct RS256, cache off (h2load, 1 token, full verification each check)',
      config: { tokenCache: 0 },
      data: files.rs256,
      ceiling: 'RS256',
      expect: [[frameOf(tokens.rs256), 0]],
    },
    {
      id: 'eddsa-nocache',
      title: 'distinct EdDSA, cache off (h2load, 1 token, full verification each check)',
      config: { tokenCache: 0 },
      data: files.eddsa,
      ceiling: 'EdDSA',
      expect: [[frameOf(tokens.eddsa), 0]],
    },
    {
      id: 'es256-10k',
      title: `${DISTINCT} distinct ES256 tokens cycled (node generator; cache 1000 < ${DISTINCT}: every check misses)`,
      config: { tokenCache: 1000 },
      frames: files.es256Distinct,
      ceiling: 'ES256',
      expect: [[frameOf(es256Many[0]), 0]],
    },
    {
      id: 'rs256-10k',
      title: `${DISTINCT} distinct RS256 tokens cycled (node generator; cache 1000 < ${DISTINCT}: every check misses)`,
      config: { tokenCache: 1000 },
      frames: files.rs256Distinct,
      ceiling: 'RS256',
      expect: [[frameOf(rs256Many[0]), 0]],
    },
    {
      id: 'bad-signature',
      title: 'invalid token: bad ES256 signature (denied, 16)',
      config: {},
      data: files.badSignature,
      expect: [[frameOf(tokens.badSignature), 16]],
    },
    {
      id: 'expired',
      title: 'invalid token: expired, valid ES256 signature (denied, 16)',
      config: {},
      data: files.expired,
      expect: [[frameOf(tokens.expired), 16]],
    },
    {
      id: 'policy-50',
      title: '50 context-role rules, request matches the last (cached token)',
      config: { policy: 'context50' },
      data: files.policy,
      expect: [
        [frameOf(tokens.policy, { path: '/courses/4711/grades' }), 0],
        [frameOf(tokens.policy, { path: '/courses/999/grades' }), 7],
      ],
    },
    {
      id: 'revocation-100k',
      title: `${REVOCATIONS.toLocaleString('en')} revocations loaded (file store), token not revoked (cached)`,
      config: { revocation: { path: revocationLog } },
      data: files.es256,
      expect: [
        [frameOf(tokens.es256), 0],
        [frameOf(tokens.revoked), 16],
      ],
    },
  ];

  const results = {
    machine,
    ceiling,
    seconds: SECONDS,
    clients: CLIENTS,
    streams: STREAMS,
    halfClients: HALF_CLIENTS,
    halfStreams: HALF_STREAMS,
    rounds: ROUNDS,
    scenarios: [],
  };

  // The no-op server runs through all scenarios (idle costs nothing): the baseline alternates with the
  // cached-token scenario, so the ratio compares runs seconds apart on the same noisy machine; and after
  // every tollgate half-rate run it is driven at the same rate, as the latency floor of this machine.
  const noop = await startNoop(dir, frameOf(tokens.es256), serverProcess);
  await warmup(noop, files.es256);
  const [cachedScenario, ...rest] = scenarios;
  try {
    if (want('cached')) {
      log('baseline (no-op grpc-js) and cached-token scenario, alternating');
      const cached = await startTollgate(dir, 'cached', { ...base, ...cachedScenario.config }, serverProcess);
      try {
        await validate(cached, cachedScenario);
        const baselineRuns = [];
        const cachedRuns = [];
        await warmup(cached, files.es256);
        for (let round = 0; round < ROUNDS; round++) {
          baselineRuns.push(await saturate(noop, files.es256));
          cachedRuns.push(await saturate(cached, files.es256));
          log(`  round ${round + 1}: baseline ${baselineRuns.at(-1).rps.toFixed(0)}/s, cached ${cachedRuns.at(-1).rps.toFixed(0)}/s`);
        }
        results.pairedRatios = cachedRuns.map((c, i) => c.rps / baselineRuns[i].rps);
        results.baseline = { id: 'baseline', title: 'no-op grpc-js Check server (constant OK)', driver: 'h2load', ...best(baselineRuns) };
        results.baseline.half = await atRate(noop, files.es256, results.baseline.rps / 2);
        const c = { ...describe(cachedScenario, 'h2load'), ...best(cachedRuns) };
        c.half = await atRate(cached, files.es256, c.rps / 2);
        c.half.noop = await atRate(noop, files.es256, c.half.targetRps);
        c.rssMB = memory(cached.pid).hwmMB;
        results.scenarios.push(c);
        log(`  baseline ${fmt(results.baseline)}`);
        log(`  cached   ${fmt(c)}`);
      } finally {
        await cached.stop();
      }
    }

    for (const scenario of rest) {
      if (!want(scenario.id)) continue;
      log(`scenario ${scenario.id}: ${scenario.title}`);
      const server = await startTollgate(dir, scenario.id, { ...base, ...scenario.config }, serverProcess);
      try {
        await validate(server, scenario);
        let result;
        if (scenario.frames) {
          result = { ...describe(scenario, 'node'), ...(await nodeLoad(server, scenario.frames)) };
        } else {
          await warmup(server, scenario.data);
          result = { ...describe(scenario, 'h2load'), ...(await saturate(server, scenario.data)) };
          result.half = await atRate(server, scenario.data, result.rps / 2);
          result.half.noop = await atRate(noop, scenario.data, result.half.targetRps, REFERENCE_SECONDS);
        }
        result.rssMB = memory(server.pid).hwmMB;
        results.scenarios.push(result);
        log(`  ${fmt(result)}`);
      } finally {
        await server.stop();
      }
    }
    if (results.baseline) results.baseline.rssMB = memory(noop.pid).hwmMB;
  } finally {
    await noop.stop();
  }

  // ---- denial flood: do 10k refused tokens a second slow the valid checks beside them? -------------
  // Any request costs a saturated server its transport's share of the core, so the no-op server takes
  // the same flood in the same rounds: what tollgate loses beyond it is what its denials cost.
  if (want('denial-flood')) {
    log(`denial flood: valid checks at saturation, alone and beside ${FLOOD_RPS}/s expired tokens, tollgate and the no-op alternating`);
    const server = await startTollgate(dir, 'denial-flood', base, serverProcess);
    const floodNoop = await startNoop(dir, frameOf(tokens.es256), { ...serverProcess, name: 'noop-flood' });
    try {
      await validate(server, {
        expect: [
          [frameOf(tokens.es256), 0],
          [frameOf(tokens.expired), 16],
        ],
      });
      await warmup(server, files.es256);
      await warmup(floodNoop, files.es256);
      const valid = (target) =>
        h2load({ port: target.grpcPort, dataFile: files.es256, seconds: SECONDS, clients: CLIENTS, streams: STREAMS });
      const flood = (target) =>
        h2load({
          port: target.grpcPort,
          dataFile: files.expired,
          seconds: SECONDS,
          clients: FLOOD_CLIENTS,
          streams: FLOOD_STREAMS,
          rpsPerClient: FLOOD_RPS / FLOOD_CLIENTS,
        });
      const floodRound = async (target) => {
        const alone = await valid(target);
        const [beside, denials] = await Promise.all([valid(target), flood(target)]);
        return {
          alone: alone.rps,
          flooded: beside.rps,
          floodRps: denials.rps,
          failed: beside.failed + beside.errored + denials.failed + denials.errored,
        };
      };
      const rounds = [];
      for (let round = 0; round < FLOOD_ROUNDS; round++) {
        const tollgate = await floodRound(server);
        const noopRound = await floodRound(floodNoop);
        rounds.push({ ...tollgate, noop: noopRound });
        log(
          `  round ${round + 1}: tollgate valid alone ${tollgate.alone.toFixed(0)}/s, beside the flood ${tollgate.flooded.toFixed(0)}/s (flood ${tollgate.floodRps.toFixed(0)}/s); ` +
            `no-op ${noopRound.alone.toFixed(0)}/s, ${noopRound.flooded.toFixed(0)}/s (flood ${noopRound.floodRps.toFixed(0)}/s)`,
        );
      }
      results.denialFlood = { targetRps: FLOOD_RPS, rounds };
    } finally {
      await floodNoop.stop();
      await server.stop();
    }
  }

  // ---- scaling: one vs two replicas ----------------------------------------------------------------
  if (!args['skip-scaling'] && want('scaling')) {
    results.scaling = [];
    for (const [id, config, data] of [
      ['cached', {}, files.es256],
      ['es256-nocache', { tokenCache: 0 }, files.es256],
    ]) {
      log(`scaling ${id}: 1 vs 2 tollgate processes`);
      const a = await startTollgate(dir, `scale-${id}-a`, { ...base, ...config }, serverProcess);
      const b = await startTollgate(dir, `scale-${id}-b`, { ...base, ...config }, serverProcess);
      try {
        await warmup(a, data);
        await warmup(b, data);
        // one, two, one: the better single-process run counts, so a noisy moment does not flatter two.
        const single = () => h2load({ port: a.grpcPort, dataFile: data, seconds: SECONDS, clients: CLIENTS, streams: STREAMS });
        const oneBefore = await single();
        const two = await Promise.all(
          [a, b].map((s) => h2load({ port: s.grpcPort, dataFile: data, seconds: SECONDS, clients: CLIENTS / 2, streams: STREAMS })),
        );
        const oneAfter = await single();
        const row = {
          id,
          one: Math.max(oneBefore.rps, oneAfter.rps),
          ones: [oneBefore.rps, oneAfter.rps],
          two: two[0].rps + two[1].rps,
          each: two.map((t) => t.rps),
        };
        results.scaling.push(row);
        log(`  1 process ${row.one.toFixed(0)}/s; 2 processes ${row.two.toFixed(0)}/s (${row.each.map((x) => x.toFixed(0)).join(' + ')})`);
      } finally {
        await a.stop();
        await b.stop();
      }
    }
  }

  // ---- context roles: a check answered from the context-source cache against a token-only one ---------
  if (want('context-cache')) {
    log(`context-cache: token-only and context-cache checks on one tollgate, alternating, ${CONTEXT_ROUNDS} rounds`);
    results.contextCache = await measureContextCache({ dir, seconds: SECONDS, rounds: CONTEXT_ROUNDS, log });
  }

  // ---- opaque tokens and API keys against a cached JWT, and a burst of new opaque tokens ------------
  if (want('opaque')) {
    log(
      `opaque: cached JWT, introspected (cache hit) and API key checks on one tollgate, alternating, ${CONTEXT_ROUNDS} rounds; then a burst`,
    );
    results.opaque = await measureOpaque({ dir, seconds: SECONDS, rounds: CONTEXT_ROUNDS, log });
  }

  // ---- policies at scale: 10,000 rules, and `when` conditions, against a 10-rule policy -------------
  if (want('policy-scale')) {
    log(
      `policy-scale: 10 rules, ${LARGE_RULES.toLocaleString('en')} rules and 10 rules with a three-clause when, alternating, ${POLICY_ROUNDS} rounds`,
    );
    results.policyScale = await measurePolicyScale({ dir, seconds: SECONDS, rounds: POLICY_ROUNDS, log });
    log(`policy-scale memory: 10 and ${LARGE_RULES.toLocaleString('en')} rules as deployed, after start and under the same traffic`);
    results.policyScale.memory = await measurePolicyMemory({ dir, seconds: SECONDS, rounds: POLICY_ROUNDS, log });
  }

  // ---- internal tokens: minting on a hit and on a miss, through the whole server over mTLS ----------
  if (want('mint')) {
    log(`mint: cached path, mint hit, distinct cached tokens and mint miss on one tollgate over mTLS, alternating, ${MINT_ROUNDS} rounds`);
    results.mint = await measureMint({ dir, seconds: SECONDS, rounds: MINT_ROUNDS, connections: CLIENTS, streams: STREAMS, log });
  }

  // ---- DPoP: a new proof every request (token cached) against the cached check; the replay cache ------
  if (want('dpop')) {
    log(
      `dpop: cached Bearer check and DPoP check with a new proof each, on one tollgate, alternating, ${DPOP_ROUNDS} rounds; then the replay cache's memory`,
    );
    results.dpop = await measureDpop({ dir, rounds: DPOP_ROUNDS, connections: CLIENTS, streams: STREAMS, log });
  }

  // ---- transports: gRPC Check and the HTTP authorization port, one server, alternating -------------
  if (want('transports')) {
    log(
      `transports: one tollgate, one token (cache hits): gRPC Check (h2c, ${CLIENTS}×${STREAMS}) and HTTP /envoy (HTTP/1.1, ${H1_CLIENTS} connections), alternating`,
    );
    const server = await startTollgate(dir, 'transports', base, serverProcess);
    const request = { path: '/envoy/api/orders/42', headers: { authorization: `Bearer ${tokens.es256}`, 'x-request-id': 'bench-http' } };
    try {
      await validate(server, { expect: [[frameOf(tokens.es256), 0]] });
      await validateHttp(server, request);
      await warmup(server, files.es256);
      const grpcRuns = [];
      const httpRuns = [];
      for (let round = 0; round < TRANSPORT_ROUNDS; round++) {
        grpcRuns.push(await saturate(server, files.es256));
        httpRuns.push(await saturateHttp(server, request, dir));
        log(`  round ${round + 1}: gRPC ${grpcRuns.at(-1).rps.toFixed(0)}/s, HTTP ${httpRuns.at(-1).rps.toFixed(0)}/s`);
      }
      results.transports = { grpc: best(grpcRuns), http: best(httpRuns), h1Clients: H1_CLIENTS };
      log(`  gRPC ${fmt(results.transports.grpc)}`);
      log(`  HTTP ${fmt(results.transports.http)}`);
    } finally {
      await server.stop();
    }
  }

  // ---- memory: 100k cached tokens + 100k revocations ----------------------------------------------
  // RSS as the OS sees it (the target), plus, through the guard's SIGUSR2 probe (--expose-gc), RSS and
  // V8 heap after a full GC at each step, to tell live data from collectable garbage.
  if (!args['skip-memory'] && want('memory')) {
    log(`memory: idle tollgate; then ${REVOCATIONS} revocations loaded and ${MEMORY_TOKENS} distinct tokens driven through once`);
    const probe = { nodeArgs: ['--expose-gc'], env: { BENCH_MEMFILE: path.join(dir, 'memprobe.json') } };
    const memFile = probe.env.BENCH_MEMFILE;
    // Idle and filled, in the pod's memory limit, which node sizes V8's heap from (bench/memory-limit.mjs).
    const pod = podMemoryCgroup('tollgate-bench', log);
    try {
      const plain = await startTollgate(dir, 'memory-plain', base, { ...probe, cgroup: pod.dir });
      let empty;
      try {
        await validate(plain, { expect: [[frameOf(tokens.es256), 0]] });
        const startedRssMB = memory(plain.pid).rssMB;
        // A sidecar idles most of its life: V8 gives back the start-up burst's heap after some idle seconds.
        await sleep(IDLE_SETTLE_SECONDS * 1000);
        empty = {
          startedRssMB,
          settleSeconds: IDLE_SETTLE_SECONDS,
          rssMB: memory(plain.pid).rssMB,
          resident: residentBreakdown(plain.pid),
          limit: pod.limit,
          gc: await memoryAfterGc(plain.child, memFile),
        };
      } finally {
        await plain.stop();
      }
      log(`  idle: RSS ${empty.rssMB.toFixed(0)} MB; ${residentText(empty.resident)}`);
      // As `tollgate serve` runs on its defaults, and with the deployment's V8 flags (k8s/base NODE_OPTIONS),
      // both in the pod's limit; and on node's defaults without a limit, to show what that sizing does on this host.
      for (const [key, nodeArgs, inPod] of [
        ['memory', [], true],
        ['memoryDeployed', DEPLOYED_NODE_ARGS, true],
        ['memoryHost', [], false],
      ]) {
        const record = await measureFilledMemory(key, {
          ...probe,
          nodeArgs: [...probe.nodeArgs, ...nodeArgs],
          cgroup: inPod ? pod.dir : undefined,
        });
        results[key] = { ...record, empty, nodeArgs, limit: inPod ? pod.limit : undefined };
      }
    } finally {
      pod.dispose();
    }
  }

  /** Starts tollgate with 100k revocations, drives 100k distinct tokens through once, and measures. */
  async function measureFilledMemory(name, probe) {
    const memFile = probe.env.BENCH_MEMFILE;
    const server = await startTollgate(dir, name, { ...base, tokenCache: MEMORY_TOKENS, revocation: { path: revocationLog } }, probe);
    try {
      await validate(server, {
        expect: [
          [frameOf(tokens.es256), 0],
          [frameOf(tokens.revoked), 16],
        ],
      });
      const loaded = { rssMB: memory(server.pid).rssMB, gc: await memoryAfterGc(server.child, memFile) };
      const before = await decisionCounts(server.httpPort);
      const fill = await runNodeJson(
        path.join(BENCH, 'load-node.mjs'),
        [
          '--port',
          String(server.grpcPort),
          '--frames',
          files.es256Memory,
          '--count',
          String(MEMORY_TOKENS),
          '--connections',
          '2',
          '--streams',
          '32',
        ],
        180_000,
      );
      await sleep(2000); // let the process settle: RSS as a dashboard would show it, no forced GC
      const filled = memory(server.pid);
      const filledResident = residentBreakdown(server.pid);
      const afterFill = await decisionCounts(server.httpPort);
      const filledGc = await memoryAfterGc(server.child, memFile);
      // Are the oldest 2,000 tokens still cached? (An LRU over its count or byte bound evicts them first.)
      await runNodeJson(
        path.join(BENCH, 'load-node.mjs'),
        ['--port', String(server.grpcPort), '--frames', files.es256Oldest, '--count', '2000'],
        60_000,
      );
      const replay = diffCounts(await decisionCounts(server.httpPort), afterFill);
      const record = {
        revocations: REVOCATIONS,
        tokens: MEMORY_TOKENS,
        tokenBytes: es256Many[0].length,
        loaded,
        rssAfterFillMB: filled.rssMB,
        filledResident,
        filledGc,
        hwmMB: memory(server.pid).hwmMB,
        fill: { rps: fill.rps, seconds: fill.seconds, failed: fill.failed, decisions: diffCounts(afterFill, before) },
        oldestStillCached: replay['cache/hit'] ?? 0,
        oldestReplayed: 2000,
      };
      log(
        `  ${name}: RSS +${REVOCATIONS} revocations ${loaded.rssMB.toFixed(0)} MB; +${MEMORY_TOKENS} cached tokens ${filled.rssMB.toFixed(0)} MB (peak ${record.hwmMB.toFixed(0)}); ` +
          `heap after GC ${loaded.gc.heapUsedMB.toFixed(0)} → ${filledGc.heapUsedMB.toFixed(0)} MB; oldest 2000 still cached: ${record.oldestStillCached}\n` +
          `    ${residentText(filledResident, filledGc)}`,
      );
      return record;
    } finally {
      await server.stop();
    }
  }

  // ---- profile of the cached-token path ----------------------------------------------------------
  if (!args['skip-profile'] && want('profile')) {
    log('profile: cached-token scenario under node --cpu-prof');
    results.profile = await profileScenario({
      dir,
      name: 'cached',
      configOptions: base,
      frame: frameOf(tokens.es256),
      seconds: SECONDS,
      clients: CLIENTS,
      streams: STREAMS,
    });
  }

  results.machine.loadEnd = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  results.elapsedSeconds = (Date.now() - started) / 1000;
  printSummary(results);
  if (!args['no-write']) {
    const file = writeResults(results, path.join(BENCH, 'RESULTS.md'));
    log(`wrote ${file}`);
  }
}

// ---- measuring one server ------------------------------------------------------------------------

/** Every expected decision, over a real Check, before any load: a bench of the wrong path is worthless. */
async function validate(server, scenario) {
  for (const [frame, code] of scenario.expect) {
    const answer = await checkOnce(server.grpcPort, frame);
    if (answer.code !== code) {
      throw new Error(`${server.name}: expected status ${code}, got ${answer.code} (${answer.httpStatus ?? 'ok'}); see ${server.logFile}`);
    }
  }
}

/** The HTTP port's answer before any load: 200 with the identity header. */
async function validateHttp(server, request) {
  const res = await fetch(`http://127.0.0.1:${server.authzPort}${request.path}`, { headers: request.headers });
  if (res.status !== 200 || !res.headers.get('x-user-id'))
    throw new Error(`${server.name}: HTTP /envoy answered ${res.status}; see ${server.logFile}`);
}

async function warmup(server, dataFile) {
  await h2load({ port: server.grpcPort, dataFile, seconds: WARMUP_SECONDS, clients: CLIENTS, streams: STREAMS });
}

/** Saturation: h2load closed loop; CPU time and (tollgate) decision counts around it. */
async function saturate(server, dataFile) {
  const logFile = path.join(path.dirname(dataFile), `${server.name}-latency.tsv`);
  return measured(server, () => h2load({ port: server.grpcPort, dataFile, seconds: SECONDS, clients: CLIENTS, streams: STREAMS, logFile }));
}

/** Saturation of the HTTP authorization port: HTTP/1.1, H1_CLIENTS keep-alive connections. */
async function saturateHttp(server, request, workDir) {
  const logFile = path.join(workDir, `${server.name}-http-latency.tsv`);
  return measured(server, () => h1load({ port: server.authzPort, ...request, seconds: SECONDS, clients: H1_CLIENTS, logFile }));
}

/** Runs `drive` (one h2load run) and measures the server's CPU time and decision counts around it. */
async function measured(server, drive) {
  const countsBefore = server.httpPort ? await decisionCounts(server.httpPort) : undefined;
  const cpuBefore = cpuMicros(server.pid);
  const load = await drive();
  const cpu = cpuMicros(server.pid) - cpuBefore;
  const decisions = countsBefore ? diffCounts(await decisionCounts(server.httpPort), countsBefore) : undefined;
  const checks = decisions ? checksIn(decisions) : load.done;
  return {
    rps: load.rps,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    maxMs: load.maxMs,
    cpuUsPerCheck: cpu / checks,
    failed: load.failed + load.errored,
    decisions,
  };
}

/** A fixed rate (checks/s in total, spread over HALF_CLIENTS connections): latency and CPU per check. */
async function atRate(server, dataFile, totalRps, seconds = SECONDS) {
  const rpsPerClient = Math.max(1, Math.floor(totalRps / HALF_CLIENTS));
  const logFile = path.join(path.dirname(dataFile), `${server.name}-rate-latency.tsv`);
  const countsBefore = server.httpPort ? await decisionCounts(server.httpPort) : undefined;
  const cpuBefore = cpuMicros(server.pid);
  const load = await h2load({
    port: server.grpcPort,
    dataFile,
    seconds,
    clients: HALF_CLIENTS,
    streams: HALF_STREAMS,
    rpsPerClient,
    logFile,
  });
  const cpu = cpuMicros(server.pid) - cpuBefore;
  const checks = countsBefore ? checksIn(diffCounts(await decisionCounts(server.httpPort), countsBefore)) : load.done;
  return {
    targetRps: rpsPerClient * HALF_CLIENTS,
    rps: load.rps,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    maxMs: load.maxMs,
    cpuUsPerCheck: cpu / checks,
    failed: load.failed + load.errored,
  };
}

/** The node generator cycling many distinct frames (closed loop, same concurrency as h2load). */
async function nodeLoad(server, framesFile) {
  const { load, cpu, decisions } = await measuredLoad(
    server,
    [
      '--frames',
      framesFile,
      '--duration',
      String(SECONDS),
      '--warmup',
      String(WARMUP_SECONDS),
      '--connections',
      String(CLIENTS),
      '--streams',
      String(STREAMS),
    ],
    (SECONDS + WARMUP_SECONDS + 60) * 1000,
  );
  return {
    rps: load.rps,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    maxMs: load.maxMs,
    cpuUsPerCheck: cpu / checksIn(decisions),
    failed: load.failed,
    decisions,
  };
}

const best = (runs) => ({ ...runs.reduce((a, b) => (b.rps > a.rps ? b : a)), runs: runs.map((r) => r.rps) });
const describe = (scenario, driver) => ({ id: scenario.id, title: scenario.title, driver, ceiling: scenario.ceiling });
const fmt = (r) =>
  `${r.rps.toFixed(0)} checks/s, p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms, ${r.cpuUsPerCheck.toFixed(0)} µs CPU/check` +
  (r.half
    ? `; at ${r.half.rps.toFixed(0)}/s p99 ${r.half.p99Ms.toFixed(2)} ms${r.half.noop ? ` (no-op server at that rate: ${r.half.noop.p99Ms.toFixed(2)} ms)` : ''}`
    : '');

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
