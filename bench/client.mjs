// One-off requests: a single Check (to prove a scenario answers what it should before loading it)
// and tollgate's /metrics decision counts (to prove the load got the expected decisions).
import http2 from 'node:http2';
import { TLS_SERVER_NAME, decodeCheckResponse } from './encode.mjs';
import { CHECK_PATH } from './h2load.mjs';

/**
 * Sends one framed CheckRequest; resolves { grpcStatus, code, httpStatus, okHeaders, okHeaderValues }.
 * `tls` ({ ca, cert, key } PEM): over TLS with that client certificate (a listener with listen.tls).
 */
export function checkOnce(port, frame, timeoutMs = 5000, tls = undefined) {
  return new Promise((resolve, reject) => {
    const session = tls
      ? http2.connect(`https://127.0.0.1:${port}`, { ...tls, servername: TLS_SERVER_NAME })
      : http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`Check on port ${port}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    session.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks = [];
    let grpcStatus;
    req.on('response', (h) => (grpcStatus ??= h['grpc-status']));
    req.on('trailers', (h) => (grpcStatus = h['grpc-status'] ?? grpcStatus));
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      session.close();
      if (grpcStatus !== '0') return reject(new Error(`Check on port ${port}: RPC failed with grpc-status ${grpcStatus}`));
      resolve({ grpcStatus, ...decodeCheckResponse(Buffer.concat(chunks)) });
    });
    req.end(frame);
  });
}

/** tollgate_check_total summed by `decision/reason`, plus cache hits and misses. */
export async function decisionCounts(httpPort) {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  const text = await res.text();
  const out = {};
  for (const match of text.matchAll(/^tollgate_check_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...match[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const key = `${labels.decision}/${labels.reason}`;
    out[key] = (out[key] ?? 0) + Number(match[2]);
  }
  for (const match of text.matchAll(/^tollgate_token_cache_total\{result="(\w+)"\} (\S+)$/gm)) out[`cache/${match[1]}`] = Number(match[2]);
  return out;
}

/** How many checks a `decisionCounts` result (or a diff of two) holds, where `keep` says which decision/reason keys count. */
export function checksIn(decisions, keep = () => true) {
  return Object.entries(decisions)
    .filter(([key]) => !key.startsWith('cache/') && keep(key))
    .reduce((total, [, count]) => total + count, 0);
}

export function diffCounts(after, before) {
  const out = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta > 0) out[key] = delta;
  }
  return out;
}
