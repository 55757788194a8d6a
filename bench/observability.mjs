// `npm run bench -- --observability`: what the decision log, tracing and the denial-line cap cost a Check.
// Each variant alternates with the plain config (no decision log, no tracing) on the cached-token
// path, ROUNDS times; the median of the paired ratios counts (a shared machine is noisy).
//   - decision log with its sink blocked: a FIFO whose reader never reads, every allowed check sampled
//     (target: throughput and p99 within 10% of the plain run);
//   - tracing configured, nothing sampled; tracing configured, every check sampled and exported to a
//     local OTLP/HTTP receiver (tracing off is the plain run: the Check path makes one call that
//     returns at once);
//   - a flood of 10,000 expired tokens/s beside allowed checks at a fixed rate, with the default
//     denial-line cap and without it (target: allowed p99 with the cap no worse than without the flood
//     by more than the flood's own CPU; reported, not asserted).
// Plus, in this process, the Check path's own tracing step: what `startCheck` costs with tracing off
// and with tracing on but the Check not sampled (the common case at sampleRatio 0.01).
// Writes bench/RESULTS-observability.md.
//
// usage: node bench/observability.mjs [--seconds 5] [--rounds 3] [--no-write]
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkOnce, decisionCounts, diffCounts } from './client.mjs';
import { checkRequestFrame } from './encode.mjs';
import { h2load, requireH2load } from './h2load.mjs';
import { median } from './report.mjs';
import { startTollgate } from './servers.mjs';
import { claims, generateKeys, jwksOf, signJwt } from './tokens.mjs';

const DIST = new URL('../dist/', import.meta.url);

const BENCH = fileURLToPath(new URL('./', import.meta.url));
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    'no-write': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CLIENTS = 4;
const STREAMS = 32;
const RATE_CLIENTS = 8;
const FLOOD_RPS = 10_000;
const FLOOD_CLIENTS = 4;
const FLOOD_STREAMS = 16; // concurrency, so the rate holds when checks slow down
const ALLOWED_RPS = 2_000;
const log = (line) => console.log(`[bench-obs ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main() {
  const h2loadVersion = requireH2load();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-obs-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const keys = generateKeys();
  const jwksPath = path.join(dir, 'jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
  const now = Math.floor(Date.now() / 1000);
  const good = checkRequestFrame({ token: signJwt(keys.ES256, claims('bench-user')) });
  const expired = checkRequestFrame({ token: signJwt(keys.ES256, claims('flood-user', { iat: now - 7200, exp: now - 3600 })) });
  const goodFile = path.join(dir, 'good.bin');
  const floodFile = path.join(dir, 'expired.bin');
  writeFileSync(goodFile, good);
  writeFileSync(floodFile, expired);

  // The blocked sink: a FIFO with a reader that never reads (the writer fills the pipe, then waits).
  const fifo = path.join(dir, 'decisions.pipe');
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const receiver = await startOtlpReceiver();

  log('tracing step of a Check, in process: startCheck with tracing off, and on but not sampled');
  const tracingStep = await tracingStepCost();
  log(`  off ${tracingStep.offNs.toFixed(0)} ns, on and unsampled ${tracingStep.unsampledNs.toFixed(0)} ns per Check`);

  const results = {
    tracingStep,
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      node: process.version,
      h2load: h2loadVersion,
      loadStart: os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
    },
    seconds: SECONDS,
    rounds: ROUNDS,
    paired: [],
    flood: [],
  };
  try {
    const variants = [
      {
        id: 'decision-log-blocked',
        title: 'decision log, every allowed check sampled, sink blocked (FIFO nobody reads)',
        sections: { decisionLog: { sink: 'file', path: fifo, sampleAllowed: 1 } },
        target: 0.1,
      },
      {
        id: 'tracing-unsampled',
        title: 'tracing on, sampleRatio 0 (span objects, nothing exported)',
        sections: { tracing: { otlpEndpoint: receiver.url, sampleRatio: 0 } },
      },
      {
        id: 'tracing-sampled',
        title: 'tracing on, sampleRatio 1 (every check exported over OTLP/HTTP)',
        sections: { tracing: { otlpEndpoint: receiver.url, sampleRatio: 1 } },
      },
    ];
    for (const variant of variants) {
      log(`${variant.id}: ${variant.title}; alternating with the plain config, ${ROUNDS} rounds`);
      const plain = await startTollgate(dir, `${variant.id}-plain`, { jwksPath });
      const other = await startTollgate(dir, variant.id, { jwksPath, sections: variant.sections });
      try {
        for (const server of [plain, other]) await expectCode(server, good, 0);
        const rounds = [];
        for (let round = 0; round < ROUNDS; round++) {
          const a = await saturation(plain, goodFile);
          const b = await saturation(other, goodFile);
          const rate = Math.floor(a.rps / 2);
          const aRate = await atRate(plain, goodFile, rate);
          const bRate = await atRate(other, goodFile, rate);
          rounds.push({ plain: a, variant: b, plainRate: aRate, variantRate: bRate, rate });
          log(
            `  round ${round + 1}: ${a.rps.toFixed(0)} vs ${b.rps.toFixed(0)} checks/s; at ${rate}/s p99 ${aRate.p99Ms.toFixed(2)} vs ${bRate.p99Ms.toFixed(2)} ms`,
          );
        }
        const extra =
          variant.id === 'decision-log-blocked' ? { dropped: await metricValue(other, 'tollgate_decision_log_dropped_total') } : {};
        if (variant.id === 'tracing-sampled') extra.spansReceived = receiver.spans();
        results.paired.push({ ...variant, sections: undefined, rounds, ...summarise(rounds), ...extra });
      } finally {
        await plain.stop();
        await other.stop();
      }
    }

    log(`denial flood: ${FLOOD_RPS} expired tokens/s beside ${ALLOWED_RPS} allowed checks/s`);
    for (const [id, sections, flood] of [
      ['no flood', {}, false],
      ['flood, denial lines capped (log.denialsPerSecond 100, the default)', {}, true],
      ['flood, every denial line written (log.denialsPerSecond 100000)', { log: { level: 'info', denialsPerSecond: 100000 } }, true],
    ]) {
      const server = await startTollgate(dir, `flood-${results.flood.length}`, { jwksPath, sections });
      try {
        await expectCode(server, good, 0);
        await expectCode(server, expired, 16);
        await h2load({ port: server.grpcPort, dataFile: goodFile, seconds: 1, clients: CLIENTS, streams: STREAMS });
        const before = await decisionCounts(server.httpPort);
        const [allowed, flooded] = await Promise.all([
          atRate(server, goodFile, ALLOWED_RPS),
          flood
            ? h2load({
                port: server.grpcPort,
                dataFile: floodFile,
                seconds: SECONDS,
                clients: FLOOD_CLIENTS,
                streams: FLOOD_STREAMS,
                rpsPerClient: FLOOD_RPS / FLOOD_CLIENTS,
              })
            : undefined,
        ]);
        const decisions = diffCounts(await decisionCounts(server.httpPort), before);
        const skipped = await metricValue(server, 'tollgate_log_denials_skipped_total');
        results.flood.push({ id, allowed, floodRps: flooded?.rps ?? 0, decisions, skipped });
        log(
          `  ${id}: allowed p50 ${allowed.p50Ms.toFixed(2)} p99 ${allowed.p99Ms.toFixed(2)} ms at ${allowed.rps.toFixed(0)}/s; flood ${(flooded?.rps ?? 0).toFixed(0)}/s; denial lines skipped ${skipped}`,
        );
      } finally {
        await server.stop();
      }
    }
  } finally {
    closeSync(reader);
    receiver.close();
  }
  results.machine.loadEnd = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const report = render(results);
  console.log(report);
  if (!args['no-write']) {
    writeFileSync(path.join(BENCH, 'RESULTS-observability.md'), report);
    log('wrote bench/RESULTS-observability.md');
  }
}

/** Nanoseconds per `startCheck` call, median of five runs of 200,000 calls, on Envoy-like headers. */
async function tracingStepCost() {
  const { noTracing, startTracing } = await import(new URL('observability/tracing.js', DIST).href);
  const headers = new Map(
    Object.entries({
      ':authority': ['api.bench.invalid'],
      ':method': ['GET'],
      ':path': ['/api/orders/42'],
      authorization: ['Bearer x'],
      'x-request-id': ['r-1'],
      accept: ['application/json'],
      'user-agent': ['tollgate-bench/1.0'],
    }),
  );
  const on = await startTracing({ otlpEndpoint: 'http://127.0.0.1:9', sampleRatio: 0 });
  const perCall = (tracing) => {
    const runs = [];
    for (let run = 0; run < 5; run++) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 200_000; i++) tracing.startCheck(headers);
      runs.push(Number(process.hrtime.bigint() - started) / 200_000);
    }
    return median(runs);
  };
  perCall(on); // warm-up
  const result = { offNs: perCall(noTracing), unsampledNs: perCall(on) };
  await on.shutdown();
  return result;
}

async function expectCode(server, frame, code) {
  const answer = await checkOnce(server.grpcPort, frame);
  if (answer.code !== code) throw new Error(`${server.name}: expected status ${code}, got ${answer.code}; see ${server.logFile}`);
}

/** Closed loop at full concurrency: throughput and latency. */
async function saturation(server, dataFile) {
  return h2load({
    port: server.grpcPort,
    dataFile,
    seconds: SECONDS,
    clients: CLIENTS,
    streams: STREAMS,
    logFile: path.join(path.dirname(dataFile), `${server.name}.tsv`),
  });
}

/** Open loop at `totalRps`, one stream per connection: latency without queueing behind the client. */
async function atRate(server, dataFile, totalRps) {
  const logFile = path.join(path.dirname(dataFile), `${server.name}-rate.tsv`);
  return h2load({
    port: server.grpcPort,
    dataFile,
    seconds: SECONDS,
    clients: RATE_CLIENTS,
    streams: 1,
    rpsPerClient: Math.max(1, Math.floor(totalRps / RATE_CLIENTS)),
    logFile,
  });
}

async function metricValue(server, name) {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

function summarise(rounds) {
  return {
    throughputRatio: median(rounds.map((r) => r.variant.rps / r.plain.rps)),
    p99SaturatedRatio: median(rounds.map((r) => r.variant.p99Ms / r.plain.p99Ms)),
    p99AtRateRatio: median(rounds.map((r) => r.variantRate.p99Ms / r.plainRate.p99Ms)),
  };
}

/** Accepts OTLP/HTTP export requests and counts them; the bench measures the sender, not a collector. */
function startOtlpReceiver() {
  let spans = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      spans += (body.match(/"spanId"/g) ?? []).length;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${server.address().port}`, spans: () => spans, close: () => server.close() }),
    ),
  );
}

function render(r) {
  const pct = (ratio) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;
  const lines = [
    '# Observability costs (npm run bench -- --observability, bench/observability.mjs)',
    '',
    `Machine: ${r.machine.cpus} CPUs (${r.machine.model}), node ${r.machine.node}, ${r.machine.h2load}; load ${r.machine.loadStart} at start, ${r.machine.loadEnd} at the end.`,
    `Cached-token Check, ${r.seconds} s per run, ${r.rounds} rounds alternating with the plain config (no decision log, no tracing); medians of the paired ratios.`,
    'A load average far above the CPU count means other work shared the machine: compare the per-round figures before the medians.',
    '',
    '| variant | throughput vs plain | p99 at saturation vs plain | p99 at half rate vs plain | notes | target |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const v of r.paired) {
    const notes =
      v.dropped !== undefined ? `${v.dropped} lines dropped` : v.spansReceived !== undefined ? `${v.spansReceived} spans received` : '';
    // Slower or higher by more than the target fails; faster is run-to-run noise, not a failure.
    const target =
      v.target === undefined
        ? ''
        : v.throughputRatio >= 1 - v.target && v.p99AtRateRatio <= 1 + v.target
          ? 'PASS (within 10%)'
          : 'FAIL (over 10%)';
    lines.push(
      `| ${v.title} | ${pct(v.throughputRatio)} | ${pct(v.p99SaturatedRatio)} | ${pct(v.p99AtRateRatio)} | ${notes} | ${target} |`,
    );
  }
  lines.push(
    '',
    `Tracing step of a Check, in process (median of 5 × 200,000 calls): tracing off ${r.tracingStep.offNs.toFixed(0)} ns; tracing on, Check not sampled ${r.tracingStep.unsampledNs.toFixed(0)} ns (reading the trace headers and the sampler's decision).`,
  );
  lines.push('', 'Per round (checks/s plain vs variant; p99 ms at half rate plain vs variant):', '');
  for (const v of r.paired)
    lines.push(
      `- ${v.id}: ${v.rounds.map((x) => `${x.plain.rps.toFixed(0)}/${x.variant.rps.toFixed(0)}, ${x.plainRate.p99Ms.toFixed(2)}/${x.variantRate.p99Ms.toFixed(2)} ms`).join('; ')}`,
    );
  lines.push(
    '',
    `Denial flood: ${FLOOD_RPS} expired tokens/s (refused before any signature work) beside ${ALLOWED_RPS} allowed checks/s, one run each.`,
    '',
  );
  lines.push(
    '| run | allowed checks/s | allowed p50 ms | allowed p99 ms | flood checks/s | denial lines skipped |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const f of r.flood)
    lines.push(
      `| ${f.id} | ${f.allowed.rps.toFixed(0)} | ${f.allowed.p50Ms.toFixed(2)} | ${f.allowed.p99Ms.toFixed(2)} | ${f.floodRps.toFixed(0)} | ${f.skipped} |`,
    );
  lines.push('');
  return lines.join('\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench-obs: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
