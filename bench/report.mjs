// The bench's output: machine description, figures table, PASS/FAIL lines, RESULTS.md.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { checksIn } from './client.mjs';
import { serverNode } from './proc.mjs';
import { profileTable } from './profile.mjs';
import { DEPLOYED_NODE_ARGS } from './servers.mjs';

export function machineInfo(h2loadVersion) {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    memTotalGB: os.totalmem() / 2 ** 30,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    serverNode: serverNode.version,
    h2load: h2loadVersion,
    date: new Date().toISOString(),
    loadStart: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}

const n0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '—');
const ms = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
// The targets of issue 14, as ratios and deltas against the same run's no-op server, never absolutes
// (an absolute figure judges the machine and grpc-js as much as tollgate).
const CACHED_RATIO = 0.9;
const CPU_ALLOWANCE_US = 25;
const P99_ADDED_CACHED_MS = 0.3;
const P99_ADDED_VERIFYING_MS = 0.5;
const MEMORY_LIMIT_MB = 200;
const IDLE_RSS_LIMIT_MB = 70;
const FLOOD_MAX_DROP = 0.1;
const CONTEXT_CACHE_RATIO = 1.1;
/** Issue 32: an introspected token on a cache hit and an API key keep this share of a cached JWT's throughput. */
const OPAQUE_THROUGHPUT_RATIO = 0.9;
const MINT_HIT_RATIO = 1.1; // issue 15
// issue 30: a large policy and `when` conditions against a 10-rule policy of the same shape
const LARGE_POLICY_RATIO = 0.9;
const LARGE_POLICY_START_ADDED_MS = 2000;
const LARGE_POLICY_RSS_ADDED_MB = 50;
const WHEN_RATIO = 0.95;
// issue 31: a DPoP check (new proof, token cached) ≤ the cached check + one signature verification + this
const DPOP_ADDED_US = 30;

/** The middle value (the upper one of an even count): what every target of the bench is judged on. */
export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const spread = (values, digits = 2) => `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

/** Per-round CPU ratios of a mint hit over the cached path, and µs a mint miss adds (bench/mint.mjs). */
function mintFigures(mint) {
  return {
    hitRatios: mint.rounds.map((r) => r.mint.cpuUsPerCheck / r.plain.cpuUsPerCheck),
    missUs: mint.rounds.map((r) => r.mintMany.cpuUsPerCheck - r.plainMany.cpuUsPerCheck),
  };
}

/** The minting figures as text lines: the hit ratio and the miss cost beside one ES256 signature. */
export function mintLines(results) {
  const { mint, ceiling } = results;
  const { hitRatios, missUs } = mintFigures(mint);
  const us = (r, name) => r[name].cpuUsPerCheck.toFixed(1);
  const signUs = 1e6 / ceiling.sign_ES256;
  return [
    `internal tokens through the whole server (gRPC over mTLS, client certificate ${mint.caller}; node load generator, ${mint.connections}×${mint.streams} in flight, ${mint.rounds.length} rounds of ${mint.seconds} s per load, alternating; load average ${mint.loadStart} → ${mint.loadEnd}):`,
    `  mint hit: CPU per check ×${median(hitRatios).toFixed(2)} of the cached path without internalToken (median of per-round ratios; spread ${spread(hitRatios)}; rounds, µs plain/mint: ${mint.rounds.map((r) => `${us(r, 'plain')}/${us(r, 'mint')}`).join(', ')}); throughput ${mint.rounds.map((r) => (r.mint.rps / r.plain.rps).toFixed(2)).join(', ')} × the cached path`,
    `  mint miss (${n0(mint.distinct)} subjects cycled through the 10,000-entry minted-token cache, their external tokens cached) against the cached path over ${n0(mint.plainDistinct)} distinct tokens: +${median(missUs).toFixed(1)} µs CPU per check (median of per-round differences; spread ${spread(missUs, 1)}; rounds, µs distinct plain/mint: ${mint.rounds.map((r) => `${us(r, 'plainMany')}/${us(r, 'mintMany')}`).join(', ')}) against ${signUs.toFixed(1)} µs for one ES256 crypto.sign on one core this run (×${(median(missUs) / signUs).toFixed(2)})`,
  ];
}

/** Per-round µs a DPoP check adds over the cached Bearer check beyond one ES256 verification (bench/dpop.mjs). */
function dpopFigures(results) {
  const verifyUs = 1e6 / results.ceiling.ES256;
  return {
    verifyUs,
    addedUs: results.dpop.rounds.map((r) => r.dpop.cpuUsPerCheck - r.bearer.cpuUsPerCheck),
    beyondUs: results.dpop.rounds.map((r) => r.dpop.cpuUsPerCheck - r.bearer.cpuUsPerCheck - verifyUs),
    // The control: a check that verifies one new Bearer token, same server, same round.
    overFreshUs: results.dpop.rounds.map((r) => r.dpop.cpuUsPerCheck - r.fresh.cpuUsPerCheck),
    freshAddedUs: results.dpop.rounds.map((r) => r.fresh.cpuUsPerCheck - r.bearer.cpuUsPerCheck),
  };
}

/** The DPoP figures as text lines: the added CPU beside one ES256 verification, and the replay cache's memory. */
export function dpopLines(results) {
  const { dpop } = results;
  const { verifyUs, addedUs, beyondUs, overFreshUs, freshAddedUs } = dpopFigures(results);
  const us = (r, name) => r[name].cpuUsPerCheck.toFixed(1);
  const m = dpop.memory;
  return [
    `DPoP through the whole server (gRPC h2c; node load generator, ${dpop.connections}×${dpop.streams} in flight, ${dpop.rounds.length} rounds of ${n0(dpop.proofsPerRound)} checks per load, alternating; load average ${dpop.loadStart} → ${dpop.loadEnd}):`,
    `  a new ES256 proof every request, the DPoP-bound token cached: +${median(addedUs).toFixed(1)} µs CPU per check over the cached Bearer check (median of per-round differences; spread ${spread(addedUs, 1)}; rounds, µs bearer/dpop: ${dpop.rounds.map((r) => `${us(r, 'bearer')}/${us(r, 'dpop')}`).join(', ')}); one ES256 crypto.verify on one core this run: ${verifyUs.toFixed(1)} µs, so ${median(beyondUs).toFixed(1)} µs beyond it; throughput ${dpop.rounds.map((r) => (r.dpop.rps / r.bearer.rps).toFixed(2)).join(', ')} × the cached check`,
    `  the control, a new ES256 Bearer token every request (one token verification each, and the token's own parse, claims and cache insert): +${median(freshAddedUs).toFixed(1)} µs over the cached check (spread ${spread(freshAddedUs, 1)}), against ${verifyUs.toFixed(1)} µs for the verification on an idle core; the DPoP check costs ${median(overFreshUs).toFixed(1)} µs more than it (spread ${spread(overFreshUs, 1)}; rounds µs fresh: ${dpop.rounds.map((r) => us(r, 'fresh')).join(', ')})`,
    `  replay cache: ${n0(m.entries)} proofs remembered (sent at ${n0(m.fillRps)}/s) took ${(m.heapAfterMB - m.heapBeforeMB).toFixed(1)} MB of V8 heap after a full GC, ${m.bytesPerProof.toFixed(0)} B per proof; at ${n0(m.rate)} proofs/s kept ${m.windowSeconds} s each (maxAgeSeconds + skew, clients' clocks right): ${n0(m.wantedAtRate)} proofs ≈ ${m.mbAtRate.toFixed(0)} MB${m.wantedAtRate > m.cap ? ` — over the cap of ${n0(m.cap)}` : ''}; cap ${n0(m.cap)} ≈ ${m.mbAtCap.toFixed(0)} MB, reached at that rate if clients' clocks run a full skew ahead (${m.worstWindowSeconds} s: ${n0(m.worstAtRate)} proofs); beyond the cap, without Redis, proofs are refused (dpop_replay_unavailable)`,
  ];
}

/** Each target as { name, pass, detail }: computed once, printed and written the same way. */
export function targets(results) {
  const out = [];
  const byId = new Map(results.scenarios.map((s) => [s.id, s]));
  const cached = byId.get('cached');
  /** CPU µs of one signature verification on one core, from this run's ceiling. */
  const signatureUs = (alg) => 1e6 / results.ceiling[alg];
  if (cached && results.baseline) {
    // PASS/FAIL on the median of the per-round ratios (each round runs baseline then tollgate, seconds
    // apart): one disturbed run cannot decide it. Best-of and half-rate CPU cost shown beside it.
    const paired = results.pairedRatios ?? [cached.rps / results.baseline.rps];
    const cpuRatio = cached.half?.noop?.cpuUsPerCheck / cached.half?.cpuUsPerCheck;
    out.push({
      name: `cached-token throughput ≥ ${CACHED_RATIO} × no-op baseline (reach: 1.0)`,
      pass: median(paired) >= CACHED_RATIO,
      detail: `median of per-round ratios ${median(paired).toFixed(2)} (rounds: ${paired.map((r) => r.toFixed(2)).join(', ')}); best runs ${n0(cached.rps)} / ${n0(results.baseline.rps)} = ${(cached.rps / results.baseline.rps).toFixed(2)}; CPU µs per check at the same fixed rate (${n0(cached.half?.targetRps)}/s), no-op/tollgate: ${n0(cached.half?.noop?.cpuUsPerCheck)} / ${n0(cached.half?.cpuUsPerCheck)} = ${cpuRatio.toFixed(2)}`,
    });
  }
  for (const s of results.scenarios.filter((x) => x.ceiling)) {
    // CPU per check against the no-op's at the same rate (half rate), or at saturation for the node driver.
    const own = s.half?.cpuUsPerCheck ?? s.cpuUsPerCheck;
    const noop = s.half?.noop?.cpuUsPerCheck ?? results.baseline?.cpuUsPerCheck;
    const allowed = noop + signatureUs(s.ceiling) + CPU_ALLOWANCE_US;
    out.push({
      name: `uncached ${s.id}: CPU µs/check ≤ no-op + one ${s.ceiling} verification + ${CPU_ALLOWANCE_US}`,
      pass: own <= allowed,
      detail: `${n0(own)} ≤ ${n0(noop)} + ${n0(signatureUs(s.ceiling))} + ${CPU_ALLOWANCE_US} = ${n0(allowed)} (${s.half ? 'half rate' : 'saturation'}; ${n0(s.rps)} checks/s at saturation, ${(s.rps / results.ceiling[s.ceiling]).toFixed(2)} × the one-core verification ceiling)`,
    });
  }
  for (const s of results.scenarios.filter((x) => x.half?.noop)) {
    // The same load on the no-op server is this machine's floor: what tollgate adds is the difference.
    const added = s.half.p99Ms - s.half.noop.p99Ms;
    const alg = s.ceiling ?? (s.id === 'bad-signature' ? 'ES256' : undefined);
    const limit = alg ? P99_ADDED_VERIFYING_MS + signatureUs(alg) / 1000 : P99_ADDED_CACHED_MS;
    out.push({
      name: `p99 added at half saturation: ${s.id} ≤ ${alg ? `${P99_ADDED_VERIFYING_MS} ms + one ${alg} verification` : `${P99_ADDED_CACHED_MS} ms`}`,
      pass: added <= limit,
      detail: `p99 ${ms(s.half.p99Ms)} ms against the no-op server's ${ms(s.half.noop.p99Ms)} ms at the same rate (${n0(s.half.rps)} checks/s; p50 ${ms(s.half.p50Ms)} against ${ms(s.half.noop.p50Ms)}): adds ${ms(added)} ms, limit ${ms(limit)} ms`,
    });
  }
  const flood = results.denialFlood;
  if (flood) {
    // A saturated server gives any extra request its transport's share of the core: the no-op server
    // takes the same flood in the same rounds, and tollgate's denials may cost only 10 % beyond that.
    // The flood reaches each server at the rate its latency lets through, so tollgate's loss is scaled
    // to the no-op's flood rate (loss per refused token × that rate) before the two are compared.
    const kept = (r) => r.flooded / r.alone;
    const keptAtNoopRate = (r) => 1 - (1 - kept(r)) * (r.noop.floodRps / r.floodRps);
    const relative = flood.rounds.map((r) => keptAtNoopRate(r) / kept(r.noop));
    const roundText = (r) => `${n0(r.flooded)}/${n0(r.alone)} with the flood at ${n0(r.floodRps)}/s`;
    out.push({
      name: `valid checks beside ${n0(flood.targetRps)}/s refused tokens lose ≤ ${FLOOD_MAX_DROP * 100} % throughput beyond what the no-op server loses to the same flood`,
      pass: median(relative) >= 1 - FLOOD_MAX_DROP,
      detail: `median of per-round ratios ${median(relative).toFixed(2)} (tollgate keeps ${flood.rounds.map((r) => kept(r).toFixed(2)).join(', ')} of its throughput, the no-op ${flood.rounds.map((r) => kept(r.noop).toFixed(2)).join(', ')}; tollgate rounds ${flood.rounds.map(roundText).join('; ')}; no-op rounds ${flood.rounds.map((r) => roundText(r.noop)).join('; ')}); the flood's load generator shares the machine's cores`,
    });
  }
  const context = results.contextCache;
  if (context) {
    const ratios = context.rounds.map((r) => r.cache.cpuPerCheck / r.token.cpuPerCheck);
    out.push({
      name: `a check answered from the context-source cache: CPU µs/check ≤ ${CONTEXT_CACHE_RATIO} × a token-only check`,
      pass: median(ratios) <= CONTEXT_CACHE_RATIO && context.domainCallsDuringLoad === 0,
      detail: `median of per-round ratios ${median(ratios).toFixed(2)} (rounds: ${context.rounds.map((r) => `${r.cache.cpuPerCheck.toFixed(1)}/${r.token.cpuPerCheck.toFixed(1)} µs`).join('; ')}); throughput ${context.rounds.map((r) => (r.cache.rps / r.token.rps).toFixed(2)).join(', ')} × token-only; domain calls during the load: ${context.domainCallsDuringLoad}`,
    });
  }
  const opaque = results.opaque;
  if (opaque) {
    for (const [name, text] of [
      ['introspected', 'an introspected token on a cache hit'],
      ['apiKey', 'an API key'],
    ]) {
      const ratios = opaque.rounds.map((r) => r[name].rps / r.jwt.rps);
      out.push({
        name: `${text} keeps ≥ ${OPAQUE_THROUGHPUT_RATIO} of a cached JWT check's throughput`,
        pass: median(ratios) >= OPAQUE_THROUGHPUT_RATIO && opaque.callsDuringLoad === 0,
        detail: `median of per-round ratios ${median(ratios).toFixed(2)} (rounds: ${opaque.rounds.map((r) => `${n0(r[name].rps)}/${n0(r.jwt.rps)}/s`).join('; ')}); introspection calls during the load: ${opaque.callsDuringLoad}`,
      });
    }
    const { burst } = opaque;
    out.push({
      name: 'a burst of distinct new opaque tokens makes one introspection call per distinct token',
      pass: burst.calls === burst.distinct && burst.duplicates === 0 && burst.allowed === burst.checks,
      detail: `${burst.checks} checks (${burst.distinct} tokens × ${burst.checks / burst.distinct}) → ${burst.calls} calls, ${burst.duplicates} tokens asked about more than once, ${burst.allowed} allowed`,
    });
  }
  const scale = results.policyScale;
  if (scale) {
    const large = scale.rounds.map((r) => r.rules10k / r.rules10);
    // Throughput at saturation is 1 / CPU per check; the CPU ratio is what a few per cent shows in.
    const when = scale.rounds.map((r) => r.rules10Cpu / r.when10Cpu);
    const { rules10, rules10k } = scale.started;
    out.push(
      {
        name: `a ${n0(scale.rules)}-rule policy whose last rule matches keeps ≥ ${LARGE_POLICY_RATIO} of a 10-rule policy's cached throughput`,
        pass: median(large) >= LARGE_POLICY_RATIO,
        detail: `median of per-round ratios ${median(large).toFixed(2)} (rounds: ${large.map((r) => r.toFixed(2)).join(', ')}; spread ${spread(large)})`,
      },
      {
        name: `starting with ${n0(scale.rules)} rules takes ≤ ${LARGE_POLICY_START_ADDED_MS / 1000} s more than with 10`,
        pass: rules10k.startMs - rules10.startMs <= LARGE_POLICY_START_ADDED_MS,
        detail: `ready in ${n0(rules10k.startMs)} ms against ${n0(rules10.startMs)} ms (process start to the first /readyz 200)`,
      },
      {
        name: `a reload of ${n0(scale.rules)} rules takes ≤ ${LARGE_POLICY_START_ADDED_MS / 1000} s`,
        pass: rules10k.reloadMs <= LARGE_POLICY_START_ADDED_MS,
        detail: `${n0(rules10k.reloadMs)} ms from SIGHUP to the reload counted in /metrics, against ${n0(rules10.reloadMs)} ms for 10 rules`,
      },
      ...policyMemoryTargets(scale),
      {
        name: `rules with a three-clause when keep ≥ ${WHEN_RATIO} of the same rules' cached throughput without it (CPU per check)`,
        pass: median(when) >= WHEN_RATIO,
        detail: `median of per-round ratios of CPU per check, without / with ${median(when).toFixed(2)} (rounds: ${scale.rounds.map((r) => `${r.rules10Cpu.toFixed(1)}/${r.when10Cpu.toFixed(1)} µs`).join(', ')}; spread ${spread(when)}); throughput ${scale.rounds.map((r) => (r.when10 / r.rules10).toFixed(2)).join(', ')} × without`,
      },
    );
  }
  if (results.mint) {
    const { hitRatios } = mintFigures(results.mint);
    out.push({
      name: `minting on a cache hit adds < ${Math.round((MINT_HIT_RATIO - 1) * 100)} % CPU per check over the same cached check without internalToken, same transport (gRPC over mTLS)`,
      pass: median(hitRatios) < MINT_HIT_RATIO,
      detail: `median of per-round ratios ${median(hitRatios).toFixed(2)} (rounds: ${hitRatios.map((r) => r.toFixed(2)).join(', ')}; spread ${spread(hitRatios)}); load average ${results.mint.loadStart} → ${results.mint.loadEnd}`,
    });
  }
  if (results.dpop) {
    const { verifyUs, beyondUs, overFreshUs } = dpopFigures(results);
    out.push({
      name: `a DPoP check (a new proof every request, the token cached) costs at most the cached check + one ES256 verification + ${DPOP_ADDED_US} µs CPU, same transport (gRPC)`,
      pass: median(beyondUs) <= DPOP_ADDED_US,
      detail: `median of per-round differences beyond one verification (${verifyUs.toFixed(1)} µs) ${median(beyondUs).toFixed(1)} µs (rounds: ${beyondUs.map((r) => r.toFixed(1)).join(', ')}); ${median(overFreshUs).toFixed(1)} µs more than a check verifying one new Bearer token in the same server (rounds: ${overFreshUs.map((r) => r.toFixed(1)).join(', ')}); load average ${results.dpop.loadStart} → ${results.dpop.loadEnd}`,
    });
    const m = results.dpop.memory;
    out.push({
      // Bounded by construction (the cap); the target is that the issue's rate fits under it, so that
      // no proof is refused for want of room (dpop_replay_unavailable) on a replica without Redis.
      name: `the DPoP replay cache holds ${n0(m.rate)} proofs/s (clients' clocks right) under its cap of ${n0(m.cap)}, memory reported`,
      pass: Number.isFinite(m.bytesPerProof) && m.wantedAtRate <= m.cap,
      detail: `${n0(m.heldAtRate)} proofs ≈ ${m.mbAtRate.toFixed(0)} MB (${m.bytesPerProof.toFixed(0)} B each, measured); ${m.wantedAtRate > m.cap ? `rate × ${m.windowSeconds} s = ${n0(m.wantedAtRate)} exceeds the cap: beyond it, without Redis, proofs are refused` : `rate × ${m.windowSeconds} s = ${n0(m.wantedAtRate)} fits under the cap`}; with clocks a full skew ahead ${n0(m.worstAtRate)}`,
    });
  }
  for (const m of [results.memory, results.memoryDeployed].filter(Boolean)) {
    out.push({
      name: `${n0(m.tokens)} cached tokens + ${n0(m.revocations)} revocations ≤ ${MEMORY_LIMIT_MB} MB RSS (${variantText(m)})`,
      pass: m.rssAfterFillMB <= MEMORY_LIMIT_MB,
      detail: `RSS ${m.rssAfterFillMB.toFixed(0)} MB after loading (peak ${m.hwmMB.toFixed(0)} MB; V8 heap used after a full GC ${m.filledGc.heapUsedMB.toFixed(0)} MB)`,
    });
  }
  if (results.memory) {
    out.push({
      name: `idle RSS ≤ ${IDLE_RSS_LIMIT_MB} MB (${variantText({ nodeArgs: [], limit: results.memory.empty.limit })})`,
      pass: results.memory.empty.rssMB <= IDLE_RSS_LIMIT_MB,
      detail:
        `${results.memory.empty.rssMB.toFixed(0)} MB idle, ${results.memory.empty.settleSeconds} s after one check (${results.memory.empty.startedRssMB?.toFixed(0)} MB right after it, before V8 gives back the start-up heap)` +
        (results.memory.empty.resident ? `; ${results.memory.empty.resident.binary.toFixed(0)} MB of it the node binary's own pages` : ''),
    });
  }
  return out;
}

/** Which node ran what: the servers under test (bench --node) and the bench with its node load generator. */
function nodeText(m) {
  const deployed = m.serverProcess
    ? `; scenario servers as deployed (${variantText(m.serverProcess)})`
    : '; scenario servers on node defaults, no memory limit';
  return `servers (tollgate, no-op baseline, verification ceiling) on node ${m.serverNode}; bench and node load generator on node ${m.node}${deployed}`;
}

/**
 * Where a process's resident pages are (proc.mjs residentBreakdown), and, given a memory probe taken
 * after a full GC, how much of the anonymous memory is V8's heap and what V8 itself malloc'd.
 */
export function residentText(resident, gc) {
  const v8 = gc
    ? ` (after a full GC, V8's heap holds ${gc.heapResidentMB.toFixed(0)} of it and V8 malloc'd ${gc.mallocedByV8MB.toFixed(0)})`
    : '';
  return (
    `resident MB: node binary ${resident.binary.toFixed(0)} (file pages, shared by every process of the same image), ` +
    `other files ${resident.files.toFixed(0)}, malloc [heap] ${resident.mallocHeap.toFixed(0)}, ` +
    `other anonymous ${(resident.anonymous + resident.stacks).toFixed(0)}${v8}`
  );
}

/** Where a process's memory sits: V8's spaces (committed / used) and memory outside the V8 heap. */
function spacesText(gc) {
  const spaces = (gc.spaces ?? []).filter((s) => s.sizeMB >= 1).map((s) => `${s.name} ${s.sizeMB.toFixed(0)}/${s.usedMB.toFixed(0)}`);
  return `V8 spaces committed/used MB: ${spaces.join(', ')}; external ${gc.externalMB.toFixed(0)} MB`;
}

/**
 * How a memory variant was started: `node` defaults or the deployment's V8 flags, and in the pod's
 * memory limit (bench/memory-limit.mjs) or without one.
 */
function variantText(m) {
  const flags = m.nodeArgs.length ? `node ${m.nodeArgs.join(' ')}, as deployed` : 'node defaults';
  if (!m.limit) return `${flags}, no memory limit: V8 sized for this host's RAM`;
  const limit = `${(m.limit.bytes / 2 ** 20).toFixed(0)} MiB`;
  return m.limit.applied
    ? `${flags}, in the pod's ${limit} memory limit`
    : `${flags}; the pod's ${limit} limit could not be applied (${m.limit.reason})`;
}

/** The memory variants measured: the two the targets judge (in the pod's limit), then the host's. */
function memoryVariants(results) {
  return [results.memory, results.memoryDeployed, results.memoryHost].filter(Boolean);
}

function decisionsText(decisions) {
  if (!decisions) return '';
  const entries = Object.entries(decisions).filter(([k]) => !k.startsWith('cache/'));
  const total = checksIn(decisions);
  const parts = entries.sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${((100 * v) / total).toFixed(0)}%`);
  const hits = decisions['cache/hit'] ?? 0;
  const misses = decisions['cache/miss'] ?? 0;
  if (hits + misses > 0) parts.push(`cache hits ${((100 * hits) / (hits + misses)).toFixed(0)}%`);
  return parts.join(', ');
}

function figuresTable(results) {
  const base = results.baseline?.rps;
  const lines = [
    '| scenario | driver | checks/s (saturation) | × baseline | p50 / p99 / max ms (saturation) | CPU µs/check (saturation) | half-rate checks/s | p50 / p99 / max ms (half rate) | CPU µs/check (half rate) | no-op server at that rate: p50 / p99 ms, CPU µs/check | peak RSS MB | decisions seen by tollgate |',
    '|---|---|---:|---:|---|---:|---:|---|---:|---|---:|---|',
  ];
  for (const s of [results.baseline, ...results.scenarios].filter(Boolean)) {
    lines.push(
      `| ${s.id === 'baseline' ? '**baseline** (no-op grpc-js)' : `**${s.id}**`} | ${s.driver} | ${n0(s.rps)}${s.runs ? ` (runs: ${s.runs.map(n0).join(', ')})` : ''} | ${base ? (s.rps / base).toFixed(2) : '—'} | ${ms(s.p50Ms)} / ${ms(s.p99Ms)} / ${ms(s.maxMs)} | ${n0(s.cpuUsPerCheck)} | ${s.half ? n0(s.half.rps) : '—'} | ${s.half ? `${ms(s.half.p50Ms)} / ${ms(s.half.p99Ms)} / ${ms(s.half.maxMs)}` : '—'} | ${s.half ? n0(s.half.cpuUsPerCheck) : '—'} | ${s.half?.noop ? `${ms(s.half.noop.p50Ms)} / ${ms(s.half.noop.p99Ms)}, ${n0(s.half.noop.cpuUsPerCheck)}` : '—'} | ${n0(s.rssMB)} | ${s.id === 'baseline' ? 'constant OK' : decisionsText(s.decisions)}${s.failed ? ` — **${s.failed} failed requests**` : ''} |`,
    );
  }
  return lines.join('\n');
}

export function printSummary(results) {
  const m = results.machine;
  console.log(`\n== tollgate bench — ${m.date} — ${m.nproc} CPUs ${m.cpuModel}, ${nodeText(m)}, load ${m.loadStart} → ${m.loadEnd}`);
  const c = results.ceiling;
  console.log(
    `signature ceiling (crypto.verify, one core): ES256 ${n0(c.ES256)}/s, RS256 ${n0(c.RS256)}/s, EdDSA ${n0(c.EdDSA)}/s; jose.jwtVerify ES256 ${n0(c.jose_ES256)}/s, RS256 ${n0(c.jose_RS256)}/s, EdDSA ${n0(c.jose_EdDSA)}/s`,
  );
  const rows = [results.baseline, ...results.scenarios].filter(Boolean);
  const pad = (s, w) => String(s).padEnd(w);
  console.log(
    `\n${pad('scenario', 18)}${pad('driver', 8)}${pad('checks/s', 10)}${pad('×base', 7)}${pad('sat p50/p99/max ms', 22)}${pad('half: checks/s', 15)}${pad('p50/p99/max ms', 20)}${pad('CPU µs', 8)}RSS MB`,
  );
  for (const s of rows) {
    console.log(
      `${pad(s.id, 18)}${pad(s.driver, 8)}${pad(n0(s.rps), 10)}${pad(results.baseline ? (s.rps / results.baseline.rps).toFixed(2) : '—', 7)}${pad(`${ms(s.p50Ms)}/${ms(s.p99Ms)}/${ms(s.maxMs)}`, 22)}${pad(s.half ? n0(s.half.rps) : '—', 15)}${pad(s.half ? `${ms(s.half.p50Ms)}/${ms(s.half.p99Ms)}/${ms(s.half.maxMs)}` : '—', 20)}${pad(n0(s.cpuUsPerCheck), 8)}${n0(s.rssMB)}`,
    );
  }
  if (results.scaling) {
    console.log('\nscaling (checks/s):');
    for (const r of results.scaling)
      console.log(
        `  ${pad(r.id, 16)} 1 process ${n0(r.one)}   2 processes ${n0(r.two)} (${r.each.map(n0).join(' + ')})   ×${(r.two / r.one).toFixed(2)}`,
      );
  }
  if (results.transports) {
    const { grpc, http } = results.transports;
    const line = (r) =>
      `${n0(r.rps)} checks/s (p99 ${ms(r.p99Ms)} ms, ${n0(r.cpuUsPerCheck)} µs CPU/check${r.failed ? `, ${r.failed} FAILED` : ''}; ${decisionsText(r.decisions)})`;
    console.log(
      `\ntransports (one token, cache hits): gRPC Check ${line(grpc)}; HTTP /envoy ${line(http)}; HTTP/gRPC ${(http.rps / grpc.rps).toFixed(2)}`,
    );
  }
  for (const mem of memoryVariants(results)) {
    console.log(
      `\nmemory (${variantText(mem)}): ${mem.limit ? `RSS idle ${mem.empty.rssMB.toFixed(0)} MB; ` : ''}with ${n0(mem.revocations)} revocations ${mem.loaded.rssMB.toFixed(0)} MB; after ${n0(mem.tokens)} distinct tokens ${mem.rssAfterFillMB.toFixed(0)} MB (peak ${mem.hwmMB.toFixed(0)} MB, ${mem.filledGc.rssMB.toFixed(0)} MB after a full GC); ` +
        `V8 heap used after GC ${mem.empty.gc.heapUsedMB.toFixed(0)} → ${mem.loaded.gc.heapUsedMB.toFixed(0)} → ${mem.filledGc.heapUsedMB.toFixed(0)} MB; oldest ${mem.oldestReplayed} tokens still cached: ${mem.oldestStillCached}` +
        `; after the fill and a full GC: ${spacesText(mem.filledGc)}` +
        (mem.filledResident ? `; after the fill, ${residentText(mem.filledResident, mem.filledGc)}` : ''),
    );
  }
  if (results.mint) console.log(`\n${mintLines(results).join('\n')}`);
  if (results.dpop) console.log(`\n${dpopLines(results).join('\n')}`);
  if (results.profile) {
    console.log(`\nprofile (cached token, ${n0(results.profile.rps)} checks/s under the profiler), top self time:`);
    for (const r of results.profile.rows.slice(0, 12)) console.log(`  ${r.pctOfBusy.toFixed(1).padStart(5)}%  ${r.name}  ${r.location}`);
  }
  console.log('\ntargets:');
  for (const t of targets(results)) console.log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`);
  console.log(`\n(${results.elapsedSeconds.toFixed(0)} s)`);
}

export function writeResults(results, file) {
  const m = results.machine;
  const c = results.ceiling;
  const out = [];
  out.push('# tollgate benchmark results', '');
  out.push('Generated by `npm run bench` (bench/run.mjs); rerun to refresh. Figures are from one run on the machine below.', '');
  out.push('## Machine', '');
  out.push(`- date: ${m.date}`);
  out.push(`- \`nproc\`: ${m.nproc}; CPU: ${m.cpuModel}; memory ${m.memTotalGB.toFixed(1)} GiB; ${m.kernel}`);
  out.push(`- ${nodeText(m)}; ${m.h2load}`);
  out.push(`- load average (1/5/15 min) at start: ${m.loadStart}; at end: ${m.loadEnd}`);
  out.push(
    `- **Shared and noisy**: other engineers run test suites on the same 2 cores during the run, and load generator and server share them too (h2load takes most of one core). Expect ±30% between runs; ratios measured seconds apart (baseline vs cached, alternating, best of ${results.rounds}) are more stable than absolute figures.`,
    '',
  );
  out.push('## Method', '');
  out.push(
    `- Servers: tollgate as users run it (\`node dist/cli.js serve --config <generated yaml>\`, log level info, one process; the memory scenario runs it in a memory cgroup holding the container's memory limit from k8s/base/tollgate-container.yaml, as a pod does, once on node's defaults and once with that file's NODE_OPTIONS, \`${DEPLOYED_NODE_ARGS.join(' ')}\`, then once more on node's defaults without a limit) and, as the baseline, \`bench/noop-server.mjs\`: grpc-js ${'1.14'} with the same proto files and proto-loader options, answering a constant OK CheckResponse. Both on 127.0.0.1, each in its own process.`,
  );
  out.push(
    `- Load: \`h2load -c ${results.clients} -m ${results.streams} -t 1 -D ${results.seconds}\` (h2c, ${results.clients * results.streams} checks in flight), POST \`/envoy.service.auth.v3.Authorization/Check\`, \`content-type: application/grpc\`, \`te: trailers\`; body = one gRPC frame (flag 0, 4-byte length, CheckRequest encoded with protobufjs from proto/), shaped like Envoy's (headers map with pseudo-headers, \`authorization: Bearer …\`, source/destination addresses). Each server gets a 1 s h2load warm-up before its first measured run. Baseline and \`cached\` alternate for ${results.rounds} rounds (baseline, tollgate, baseline, …); their row shows the best run of each, and the target uses the median of the per-round ratios.`,
  );
  out.push(
    `- Half rate: \`h2load -c ${results.halfClients} -m ${results.halfStreams} --rps <total/${results.halfClients}>\`, the total being half of that server's own saturation figure. One stream per connection because h2load's rate timer releases up to -m requests at once per connection (with -m 32, p50 is several ms even on an idle no-op server: it measures the burst). Caveat: a client whose previous request is still out sends its next one late, so a server stall shows in max more than in p99. Latency percentiles (both runs) from h2load's per-request \`--log-file\`. Right after each tollgate half-rate run the no-op server (kept running through the whole bench) is driven at the same rate for 3 s: the latency floor of this machine and load generator at that rate, shown beside tollgate's.`,
  );
  out.push(
    "- CPU µs/check: utime+stime of the server (/proc/<pid>/stat) across the saturation run ÷ checks the server counted (tollgate_check_total delta; h2load's count for the baseline). Peak RSS: VmHWM at the end of the scenario.",
  );
  out.push(
    '- Every scenario first sends real Checks and asserts the decision (e.g. 0 allow, 16 unauthenticated, 7 forbidden; a revoked jti is denied), and the table shows the decisions tollgate counted during the load.',
  );
  out.push(
    '- **Distinct tokens, two ways.** h2load sends one body for every request, so: (a) `es256-nocache` / `rs256-nocache` use h2load with one token and `tokenCache: { maxEntries: 0 }` — every check pays full verification, which is the honest per-check cost of a token never seen before; (b) `es256-10k` / `rs256-10k` use `bench/load-node.mjs` (node:http2, same 4×32 concurrency) cycling 10,000 pre-encoded frames of distinct valid tokens with `tokenCache: { maxEntries: 1000 }`: a cyclic scan larger than an LRU always misses, so every check verifies and also pays the cache insert/evict. (b) is the cross-check of (a); the node generator is heavier than h2load, so its absolute figures are lower-bound-ish.',
  );
  out.push(
    `- Signature ceiling: \`bench/verify-ceiling.mjs\`, its own process, \`crypto.verify\` on one core for 2 s per algorithm on a real token's signing input (jose.jwtVerify measured the same way for context).`,
  );
  out.push('');
  out.push('## Figures', '');
  out.push(figuresTable(results), '');
  out.push(
    `Signature-verification ceiling (one core, this run): **ES256 ${n0(c.ES256)}/s, RS256 ${n0(c.RS256)}/s, EdDSA ${n0(c.EdDSA)}/s** with crypto.verify; jose.jwtVerify ES256 ${n0(c.jose_ES256)}/s, RS256 ${n0(c.jose_RS256)}/s, EdDSA ${n0(c.jose_EdDSA)}/s.`,
    '',
  );
  out.push('Scenarios:', '');
  for (const s of results.scenarios) out.push(`- \`${s.id}\`: ${s.title}`);
  out.push('');
  out.push('## Targets', '');
  for (const t of targets(results)) out.push(`- **${t.pass ? 'PASS' : 'FAIL'}** ${t.name}: ${t.detail}`);
  out.push('');
  out.push(
    "Note on the uncached target: one tollgate process pays the gRPC/HTTP/2 work of the no-op server AND a signature verification for every check, so its CPU per check is held against the no-op's at the same rate plus one verification (from the ceiling above) plus 25 µs for tollgate's own work; the × ceiling figure beside it is for context.",
    '',
  );
  if (results.scaling) {
    out.push('## Scaling: one vs two tollgate processes', '');
    out.push(
      "Two replicas on different ports, load split across them (two h2load processes, 2 connections each, started together; versus one h2load with 4 connections on one replica). In Kubernetes this is two replicas (or two sidecars) behind Envoy's load balancing of the ext_authz cluster; they share no memory — revocations reach every replica through the revocation store (file per process, or Redis with pub/sub), and each keeps its own token cache.",
      '',
    );
    out.push(
      '| scenario | 1 process checks/s (best of the runs before and after) | 2 processes checks/s | ratio |',
      '|---|---:|---:|---:|',
    );
    for (const r of results.scaling)
      out.push(
        `| ${r.id} | ${n0(r.one)} (${r.ones.map(n0).join(', ')}) | ${n0(r.two)} (${r.each.map(n0).join(' + ')}) | ${(r.two / r.one).toFixed(2)} |`,
      );
    out.push(
      '',
      `On ${m.nproc} cores the load generators and both replicas share the same CPUs, so this shows contention more than scaling; on a node with spare cores each replica adds about one process's throughput.`,
      '',
    );
  }
  if (results.transports) {
    const { grpc, http, h1Clients } = results.transports;
    out.push('## Transports: gRPC Check and the HTTP authorization port', '');
    out.push(
      `One tollgate, one ES256 token repeated (cache hits), the two transports driven alternately for ${grpc.runs.length} rounds (best run of each shown): gRPC Check as in the scenarios above (h2c, ${results.clients} connections × ${results.streams} streams), and \`GET /envoy/api/orders/42\` with the same token on the HTTP authorization port (\`h2load --h1 -c ${h1Clients} -m 1\`: HTTP/1.1 keep-alive, one check in flight per connection, no pipelining, as nginx and Envoy's http_service call it). The same pipeline decides both; the difference is the transport.`,
      '',
    );
    out.push('| transport | checks/s (runs) | p50 / p99 / max ms | CPU µs/check | decisions seen by tollgate |', '|---|---:|---|---:|---|');
    for (const [name, r] of [
      ['gRPC Check', grpc],
      ['HTTP /envoy', http],
    ]) {
      out.push(
        `| ${name} | ${n0(r.rps)} (${r.runs.map(n0).join(', ')}) | ${ms(r.p50Ms)} / ${ms(r.p99Ms)} / ${ms(r.maxMs)} | ${n0(r.cpuUsPerCheck)} | ${decisionsText(r.decisions)}${r.failed ? ` — **${r.failed} failed requests**` : ''} |`,
      );
    }
    out.push('', `HTTP / gRPC: ${(http.rps / grpc.rps).toFixed(2)}.`, '');
  }
  for (const mem of memoryVariants(results)) {
    const perEntry = (fromMB, toMB, count) => `${n0(((toMB - fromMB) * 2 ** 20) / count)} bytes`;
    out.push(`## Memory: 100,000 cached tokens + 100,000 revocations (${variantText(mem)})`, '');
    out.push(
      `Config: \`tokenCache: { maxEntries: ${mem.tokens} }\`, \`revocation: { store: file }\` with a preloaded log of ${n0(mem.revocations)} live entries (80% jti, 10% sid, 10% sub cut-offs); the cache filled by driving ${n0(mem.tokens)} distinct ES256 tokens (${mem.tokenBytes} bytes each) through once with bench/load-node.mjs (${n0(mem.fill.rps)} checks/s; decisions: ${decisionsText(mem.fill.decisions)}). "After GC" figures come from a full GC requested through bench/guard.mjs (tollgate started with --expose-gc for this scenario only).`,
      '',
    );
    const row = (label, rss, gc) =>
      `| ${label} | ${rss} | ${gc.rssMB.toFixed(0)} | ${gc.heapTotalMB.toFixed(0)} | ${gc.heapUsedMB.toFixed(0)} | ${gc.externalMB.toFixed(0)} |`;
    out.push(
      '| state | RSS MB | RSS after full GC MB | V8 heap total after GC MB | V8 heap used after GC MB | external + ArrayBuffers MB |',
      '|---|---:|---:|---:|---:|---:|',
    );
    const idleWhere = mem.empty.limit && !mem.limit ? ", in the pod's limit" : '';
    out.push(row(`idle tollgate (bench config, no revocation store${idleWhere})`, mem.empty.rssMB.toFixed(0), mem.empty.gc));
    out.push(row(`+ ${n0(mem.revocations)} revocations loaded (just started)`, mem.loaded.rssMB.toFixed(0), mem.loaded.gc));
    out.push(
      row(
        `+ ${n0(mem.tokens)} cached tokens (2 s after the fill)`,
        `**${mem.rssAfterFillMB.toFixed(0)}** (peak ${mem.hwmMB.toFixed(0)})`,
        mem.filledGc,
      ),
    );
    out.push('');
    out.push(
      `Live heap per revocation ≈ ${perEntry(mem.empty.gc.heapUsedMB, mem.loaded.gc.heapUsedMB, mem.revocations)}; per cached token ≈ ${perEntry(mem.loaded.gc.heapUsedMB, mem.filledGc.heapUsedMB, mem.tokens)}. The oldest ${mem.oldestReplayed} tokens replayed afterwards: ${mem.oldestStillCached} cache hits (fewer would mean the LRU's byte or count bound evicted them).`,
      '',
    );
    if (mem.empty.resident && mem.limit) out.push(`Idle, ${residentText(mem.empty.resident, mem.empty.gc)}.`, '');
    if (mem.filledResident) out.push(`After the fill, ${residentText(mem.filledResident, mem.filledGc)}.`, '');
  }
  if (results.mint) {
    const [intro, ...lines] = mintLines(results);
    out.push('## Internal tokens: minting through mTLS gRPC', '');
    out.push(
      `\`bench/mint.mjs\`: one tollgate with \`listen.tls\` (openssl-made CA and certificates; the caller's SPIFFE ID comes from its client certificate) and \`internalTokens\` (a key from \`tollgate keys rotate\`, publishAheadSeconds 0); two rules on different paths, one plain, one with \`internalToken\`. bench/load-node.mjs drives it over TLS with the client certificate (h2load cannot present one). CPU µs/check: the server's utime+stime ÷ the checks it counted; the mint counters are asserted per load (hits sign nothing, misses sign every check).`,
      '',
    );
    out.push(`- ${intro}`, ...lines.map((l) => `  - ${l.trim()}`), '');
  }
  if (results.dpop) {
    const [intro, ...lines] = dpopLines(results);
    out.push('## DPoP: a new proof every request, and the replay cache', '');
    out.push(
      `\`bench/dpop.mjs\`: one tollgate whose provider has \`dpop\` (maxAgeSeconds 60, skew 30 s, replay cache in memory); bench/load-node.mjs sends each ES256 proof once (signed just before its round), with one DPoP-bound token that stays cached, against one cached Bearer token; every check is asserted allowed. CPU µs/check: the server's utime+stime ÷ the checks it counted; the verification cost is this run's ceiling. Memory: a second tollgate (--expose-gc) takes fresh proofs; V8 heap after a full GC before and after ÷ the replay-cache entries added (\`tollgate_dpop_replay_cache_entries\`).`,
      '',
    );
    out.push(`- ${intro}`, ...lines.map((l) => `  - ${l.trim()}`), '');
  }
  if (results.profile) {
    out.push('## Profile: cached-token path', '');
    out.push(
      `\`node --cpu-prof\` on tollgate during ${results.seconds} s of h2load on the cached-token scenario (${n0(results.profile.rps)} checks/s under the profiler; busy ${n0(results.profile.busyMs)} ms, idle ${n0(results.profile.idleMs)} ms; startup included). Locations in dist/ are mapped back to src/ through the source maps. Standalone: \`node bench/profile.mjs cached\`.`,
      '',
    );
    out.push(profileTable(results.profile), '');
  }
  out.push(`Run took ${results.elapsedSeconds.toFixed(0)} s.`, '');
  // The hand-kept record of what was changed on the hot path and what it bought, so a regenerated
  // RESULTS.md keeps the before/after history.
  out.push(readFileSync(new URL('./OPTIMIZATIONS.md', import.meta.url), 'utf8'));
  writeFileSync(file, out.join('\n'));
  return file;
}

/**
 * The memory a large policy adds (bench/policy-scale.mjs, measurePolicyMemory), under the same traffic,
 * as deployed: one target for 10,000 rules sharing one requirement, one for 10,000 each with its own.
 */
function policyMemoryTargets(scale) {
  const { rules10, rules10k } = scale.started;
  const m = scale.memory;
  const variants = [
    ['rules10k', 'sharing one requirement'],
    ['rules10kDistinct', 'each with a requirement of its own'],
  ];
  return variants.map(([large, shape]) => {
    const added = (key) => m[large][key] - m.rules10[key];
    return {
      name: `${n0(scale.rules)} rules ${shape} add ≤ ${LARGE_POLICY_RSS_ADDED_MB} MB RSS under the same traffic as 10 rules (as deployed: ${m.nodeArgs.join(' ')})`,
      pass: added('rssUnderLoadMB') <= LARGE_POLICY_RSS_ADDED_MB,
      detail:
        `under the traffic (median of ${m[large].rssSamples} samples past the first round) ${m[large].rssUnderLoadMB.toFixed(0)} MB against ${m.rules10.rssUnderLoadMB.toFixed(0)} MB: ${added('rssUnderLoadMB').toFixed(0)} MB added; ` +
        `one sample after it ${added('rssAfterLoadMB').toFixed(0)} MB added (${m[large].rssAfterLoadMB.toFixed(0)} against ${m.rules10.rssAfterLoadMB.toFixed(0)} MB); ` +
        `the live data (V8 heap after a full GC) ${added('heapUsedAfterGcMB').toFixed(1)} MB; ` +
        `right after start ${added('rssAfterStartMB').toFixed(0)} MB added as deployed` +
        (large === 'rules10k'
          ? `, ${(rules10k.rssMB - rules10.rssMB).toFixed(0)} MB without the flags (${rules10k.rssMB.toFixed(0)} against ${rules10.rssMB.toFixed(0)} MB): the heap V8 grew while reading the file, which an idle process keeps`
          : ''),
    };
  });
}
