// A small HTTP/2 gRPC load generator that cycles through MANY pre-encoded frames (h2load sends one
// data file for every request). Closed loop: `connections` sessions × `streams` requests in flight.
// usage: node bench/load-node.mjs --port P --frames FILE [--duration 5] [--warmup 1]
//          [--connections 2] [--streams 32] [--count N] [--start I] [--ca FILE --cert FILE --key FILE]
// --frames: concatenated gRPC frames (each carries its length). --count N: send exactly N requests,
// frame i being frames[i % n], then stop (used to fill the token cache); otherwise run for the
// duration and report only requests started after the warm-up. --start I: begin at frames[I % n] (a
// run continuing where the previous one stopped, so a cache does not see the same frames again). --ca/--cert/--key (PEM files): over
// TLS, trusting that CA and presenting that client certificate (an mTLS listen.tls); otherwise h2c.
// Prints one JSON line: { requests, seconds, rps, p50Ms, p99Ms, maxMs, failed, codes }.
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { parseArgs } from 'node:util';
import { TLS_SERVER_NAME, decodeCheckResponse, splitFrames } from './encode.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    frames: { type: 'string' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '2' },
    streams: { type: 'string', default: '32' },
    count: { type: 'string' },
    start: { type: 'string', default: '0' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});
const frames = splitFrames(readFileSync(values.frames));
const count = values.count === undefined ? undefined : Number(values.count);
const start = Number(values.start);
const warmupMs = count === undefined ? Number(values.warmup) * 1000 : 0;
const durationMs = Number(values.duration) * 1000;
const HEADERS = {
  ':method': 'POST',
  ':path': '/envoy.service.auth.v3.Authorization/Check',
  'content-type': 'application/grpc',
  te: 'trailers',
};
const SAMPLE_EVERY = 997; // decode one response in ~1000 to count status codes cheaply

const latencies = [];
const codes = {};
let failed = 0;
let next = 0;
let inFlight = 0;
const t0 = performance.now();
const measureFrom = t0 + warmupMs;
const deadline = measureFrom + durationMs;
let stopping = false;
let finish;
const finished = new Promise((resolve) => (finish = resolve));

function maybeDone() {
  if (inFlight === 0 && stopping) finish();
}

function fire(session) {
  if (stopping) return maybeDone();
  const i = next++;
  if (count !== undefined && i >= count) {
    stopping = true;
    return maybeDone();
  }
  const started = performance.now();
  if (count === undefined && started >= deadline) {
    stopping = true;
    return maybeDone();
  }
  inFlight++;
  const sample = i % SAMPLE_EVERY === 0;
  const chunks = sample ? [] : undefined;
  let grpcStatus;
  const req = session.request(HEADERS);
  req.on('response', (h) => (grpcStatus ??= h['grpc-status']));
  req.on('trailers', (h) => (grpcStatus = h['grpc-status'] ?? grpcStatus));
  req.on('data', (chunk) => chunks?.push(chunk));
  req.on('error', () => {});
  req.on('close', () => {
    inFlight--;
    const ended = performance.now();
    if (grpcStatus !== '0') failed++;
    else if (chunks && chunks.length > 0) {
      const { code } = decodeCheckResponse(Buffer.concat(chunks));
      codes[code] = (codes[code] ?? 0) + 1;
    }
    if (started >= measureFrom) latencies.push(ended - started);
    fire(session);
  });
  req.end(frames[(start + i) % frames.length]);
}

const sessions = [];
for (let c = 0; c < Number(values.connections); c++) {
  const session = values.ca
    ? http2.connect(`https://127.0.0.1:${values.port}`, {
        ca: readFileSync(values.ca),
        cert: values.cert && readFileSync(values.cert),
        key: values.key && readFileSync(values.key),
        servername: TLS_SERVER_NAME,
      })
    : http2.connect(`http://127.0.0.1:${values.port}`);
  session.on('error', (err) => {
    console.error(`load-node: ${err.message}`);
    process.exit(1);
  });
  sessions.push(session);
}
await Promise.all(sessions.map((s) => new Promise((resolve) => s.once('connect', resolve))));
for (const session of sessions) for (let s = 0; s < Number(values.streams); s++) fire(session);
await finished;
const ended = performance.now();
for (const session of sessions) session.close();

latencies.sort((a, b) => a - b);
const pick = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : NaN);
const seconds = count === undefined ? durationMs / 1000 : (ended - t0) / 1000;
console.log(
  JSON.stringify({
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
    maxMs: latencies.at(-1) ?? NaN,
    failed,
    codes,
  }),
);
