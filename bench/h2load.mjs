// Drives a gRPC server with h2load: one pre-encoded CheckRequest frame as the POST body of every
// request, over h2c (HTTP/2 with prior knowledge). Latency percentiles come from h2load's per-request
// log (--log-file), since its summary only has min/mean/max.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { run } from './proc.mjs';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** Throws a message naming the package when h2load is missing. */
export function requireH2load() {
  const probe = spawnSync('h2load', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'h2load not found: the bench drives the servers with h2load from nghttp2.\n' +
        '  Install it with:  apt-get install nghttp2-client   (Debian/Ubuntu; brew install nghttp2 on macOS)',
    );
  }
  return probe.stdout.trim().split('\n')[0];
}

/**
 * One h2load run. { port, dataFile, seconds, clients, streams, rpsPerClient?, logFile? } →
 * { rps, done, failed, errored, p50Ms, p99Ms, maxMs }.
 */
export async function h2load({ port, dataFile, seconds, clients, streams, rpsPerClient, logFile }) {
  const args = ['-c', String(clients), '-m', String(streams), '-t', '1', '-D', String(seconds), '-d', dataFile];
  args.push('-H', 'content-type: application/grpc', '-H', 'te: trailers');
  if (rpsPerClient !== undefined) args.push(`--rps=${rpsPerClient}`);
  return runH2load(args, `http://127.0.0.1:${port}${CHECK_PATH}`, seconds, logFile);
}

/**
 * The HTTP authorization port driven as nginx or Envoy's http_service drive it: HTTP/1.1 GETs on
 * keep-alive connections, one request in flight per connection (proxies do not pipeline).
 * { port, path, headers: {name: value}, seconds, clients, logFile? } → as h2load().
 */
export async function h1load({ port, path, headers, seconds, clients, logFile }) {
  const args = ['--h1', '-c', String(clients), '-m', '1', '-t', '1', '-D', String(seconds)];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  return runH2load(args, `http://127.0.0.1:${port}${path}`, seconds, logFile);
}

async function runH2load(args, url, seconds, logFile) {
  if (logFile) args.push(`--log-file=${logFile}`);
  args.push(url);
  if (logFile) rmSync(logFile, { force: true }); // h2load appends to an existing log
  const result = await run('h2load', args, { timeoutMs: (seconds + 30) * 1000 });
  const out = result.stdout;
  const finished = /finished in ([\d.]+)(s|ms), ([\d.]+) req\/s/.exec(out); // "997.69ms" or "5.00s"
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
    out,
  );
  if (result.code !== 0 || !finished || !requests) {
    throw new Error(`h2load failed (exit ${result.code ?? result.signal}):\n${out.slice(-1500)}\n${result.stderr.slice(-800)}`);
  }
  const summary = {
    rps: Number(finished[3]),
    done: Number(requests[3]),
    succeeded: Number(requests[4]),
    failed: Number(requests[5]),
    errored: Number(requests[6]),
    ...latencyFromLog(logFile),
  };
  const non2xx = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (non2xx && Number(non2xx[2]) + Number(non2xx[3]) + Number(non2xx[4]) > 0) summary.non2xx = true;
  return summary;
}

function latencyFromLog(logFile) {
  if (!logFile) return {};
  const text = readFileSync(logFile, 'utf8');
  rmSync(logFile, { force: true });
  const micros = [];
  for (const line of text.split('\n')) {
    const cols = line.split('\t');
    if (cols.length >= 3) micros.push(Number(cols[2]));
  }
  micros.sort((a, b) => a - b);
  const pick = (q) => (micros.length ? micros[Math.min(micros.length - 1, Math.floor(q * micros.length))] / 1000 : NaN);
  return { p50Ms: pick(0.5), p99Ms: pick(0.99), maxMs: micros.length ? micros.at(-1) / 1000 : NaN };
}
