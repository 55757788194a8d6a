// Policies at scale: a 10,000-rule policy and a policy whose rules carry a three-clause `when`, each
// against a 10-rule policy of the same shape, the request matching the last rule (cached token).
// Part of `npm run bench` (`--only policy-scale`); standalone too:
//   npm run build && node bench/policy-scale.mjs [--seconds 3] [--rounds 3]
// The three servers run side by side and are driven one after another in each round (h2load,
// 4 connections × 32 streams); the targets (bench/report.mjs) are on the median of per-round
// throughput ratios, and for `when` on CPU per check (a difference of a few per cent, which the load
// generator sharing the cores hides in throughput). Start-up (to the first /readyz 200), RSS after start and a reload
// (SIGHUP to the success in /metrics) are read per server.
// Then the memory a large policy adds, measured as deployed (measurePolicyMemory).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkOnce } from './client.mjs';
import { checkRequestFrame } from './encode.mjs';
import { h2load, requireH2load } from './h2load.mjs';
import { cpuMicros, memory, memoryAfterGc } from './proc.mjs';
import { median } from './report.mjs';
import { DEPLOYED_NODE_ARGS, startTollgate } from './servers.mjs';
import { claims, generateKeys, jwksOf, signJwt } from './tokens.mjs';
import { LARGE_RULES } from './config/generate.mjs';

const POLICIES = ['rules10', 'rules10k', 'when10'];
/** How often RSS is read while a memory server is under load. */
const RSS_SAMPLE_MS = 100;
const WARMUP_SECONDS = 5;

export async function measurePolicyScale({ dir, seconds, rounds, log = console.log }) {
  const keys = generateKeys();
  const jwksPath = path.join(dir, 'policy-scale-jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
  const token = signJwt(keys.ES256, claims('teacher-user', { roles: { course: { teacher: ['4711'] } } }));
  const frame = checkRequestFrame({ token, path: '/courses/4711/grades' });
  const dataFile = path.join(dir, 'policy-scale.bin');
  writeFileSync(dataFile, frame);

  const servers = {};
  const started = {};
  try {
    for (const policy of POLICIES) {
      const t0 = performance.now();
      servers[policy] = await startTollgate(dir, `policy-${policy}`, { jwksPath, policy });
      const answer = await checkOnce(servers[policy].grpcPort, frame);
      if (answer.code !== 0) throw new Error(`policy-scale ${policy}: expected an allow, got code ${answer.code}`);
      started[policy] = { startMs: performance.now() - t0, rssMB: memory(servers[policy].pid).rssMB };
      started[policy].reloadMs = await reloadTime(servers[policy]);
      log(
        `  ${policy}: ready in ${started[policy].startMs.toFixed(0)} ms, RSS ${started[policy].rssMB.toFixed(0)} MB; a reload (SIGHUP) took ${started[policy].reloadMs.toFixed(0)} ms`,
      );
    }
    // Warm-up: with one second each, the first measured rounds of the 10,000-rule and `when` servers
    // still ran 25–35 % slower than the later ones (the optimising compiler had not reached their paths).
    for (const policy of POLICIES)
      await h2load({ port: servers[policy].grpcPort, dataFile, seconds: WARMUP_SECONDS, clients: 4, streams: 32 });
    const measured = [];
    for (let round = 0; round < rounds; round++) {
      const row = {};
      for (const policy of POLICIES) {
        const cpuBefore = cpuMicros(servers[policy].pid);
        const run = await h2load({ port: servers[policy].grpcPort, dataFile, seconds, clients: 4, streams: 32 });
        if (run.failed + run.errored > 0) throw new Error(`policy-scale ${policy}: ${run.failed} failed, ${run.errored} errored`);
        row[policy] = run.rps;
        row[`${policy}Cpu`] = (cpuMicros(servers[policy].pid) - cpuBefore) / run.done;
      }
      measured.push(row);
      log(`  round ${round + 1}: ${POLICIES.map((p) => `${p} ${row[p].toFixed(0)}/s at ${row[`${p}Cpu`].toFixed(1)} µs CPU`).join(', ')}`);
    }
    return { rules: LARGE_RULES, started, rounds: measured };
  } finally {
    for (const server of Object.values(servers)) await server.stop();
  }
}

/** Milliseconds from SIGHUP to the reload counted as a success in /metrics (polled every 10 ms). */
async function reloadTime(server) {
  const successes = async () => {
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    return Number(/^tollgate_config_reload_total\{result="success"\} (\S+)$/m.exec(text)?.[1] ?? 0);
  };
  const before = await successes();
  const t0 = performance.now();
  server.child.kill('SIGHUP');
  while ((await successes()) === before) {
    if (performance.now() - t0 > 30_000)
      throw new Error(`policy-scale ${server.name}: no successful reload within 30 s; see ${server.logFile}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - t0;
}

/** The memory servers: 10 rules, 10,000 rules of one requirement, and 10,000 each with its own. */
const MEMORY_POLICIES = ['rules10', 'rules10k', 'rules10kDistinct'];

/**
 * The memory 10,000 rules add, as deployed (the manifests' V8 flags): RSS after start, and under the
 * same traffic through a 10-rule and two 10,000-rule servers (one requirement shared by every rule, and
 * one requirement per rule). Right after start the large policy's server
 * still holds the heap V8 grew while it read the file (the young generation at its cap, old-space
 * room), which an idle process never gives back; the 10-rule server grows to the same under traffic.
 * Under the same traffic, the difference is what the rules themselves hold; RSS is the median of
 * samples taken through the load, one sample after it is reported beside.
 */
export async function measurePolicyMemory({ dir, seconds, rounds, log = console.log }) {
  const keys = generateKeys();
  const jwksPath = path.join(dir, 'policy-memory-jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
  const token = signJwt(keys.ES256, claims('teacher-user', { roles: { course: { teacher: ['4711'] } } }));
  const dataFile = path.join(dir, 'policy-memory.bin');
  writeFileSync(dataFile, checkRequestFrame({ token, path: '/courses/4711/grades' }));
  const servers = {};
  const measured = {};
  try {
    for (const policy of MEMORY_POLICIES) {
      const memFile = path.join(dir, `memory-${policy}.json`);
      servers[policy] = await startTollgate(
        dir,
        `memory-${policy}`,
        { jwksPath, policy },
        { nodeArgs: [...DEPLOYED_NODE_ARGS, '--expose-gc'], env: { BENCH_MEMFILE: memFile } },
      );
      servers[policy].memFile = memFile;
      measured[policy] = { rssAfterStartMB: memory(servers[policy].pid).rssMB };
    }
    const samples = Object.fromEntries(MEMORY_POLICIES.map((policy) => [policy, []]));
    for (let round = 0; round < rounds; round++) {
      for (const policy of MEMORY_POLICIES) {
        const pid = servers[policy].pid;
        // Sampled through the load, past the first round: one reading falls anywhere in V8's cycle of
        // growing the heap and collecting it, which moved a single sample's difference by ±30 MB.
        const sampler = round > 0 ? setInterval(() => samples[policy].push(memory(pid).rssMB), RSS_SAMPLE_MS) : undefined;
        const run = await h2load({ port: servers[policy].grpcPort, dataFile, seconds, clients: 4, streams: 32 }).finally(() =>
          clearInterval(sampler),
        );
        if (run.failed + run.errored > 0) throw new Error(`policy memory ${policy}: ${run.failed} failed, ${run.errored} errored`);
      }
    }
    for (const policy of MEMORY_POLICIES) {
      measured[policy].rssUnderLoadMB = median(samples[policy]);
      measured[policy].rssSamples = samples[policy].length;
      measured[policy].rssAfterLoadMB = memory(servers[policy].pid).rssMB;
      // Last: the full GC of the probe changes what the process holds.
      measured[policy].heapUsedAfterGcMB = (await memoryAfterGc(servers[policy].child, servers[policy].memFile)).heapUsedMB;
    }
    log(
      `  as deployed (${DEPLOYED_NODE_ARGS.join(' ')}): ${Object.entries(measured)
        .map(
          ([p, m]) =>
            `${p} RSS ${m.rssAfterStartMB.toFixed(0)} MB after start, ${m.rssUnderLoadMB.toFixed(0)} MB under load (median of ${m.rssSamples} samples), ${m.rssAfterLoadMB.toFixed(0)} MB after ${rounds} × ${seconds} s of load, V8 heap after a full GC ${m.heapUsedAfterGcMB.toFixed(1)} MB`,
        )
        .join('; ')}`,
    );
    return { nodeArgs: DEPLOYED_NODE_ARGS, ...measured };
  } finally {
    for (const server of Object.values(servers)) await server.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' } } });
  requireH2load();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-policy-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const { targets } = await import('./report.mjs');
  const policyScale = await measurePolicyScale({ dir, seconds: Number(args.seconds), rounds: Number(args.rounds) });
  policyScale.memory = await measurePolicyMemory({ dir, seconds: Number(args.seconds), rounds: Number(args.rounds) });
  for (const t of targets({ scenarios: [], policyScale })) console.log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`);
}
