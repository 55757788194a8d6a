// Minting internal tokens through the whole server (issue 15). Internal tokens need the caller's SPIFFE
// ID, which only the client certificate of an mTLS connection to the gRPC listener gives (h2load cannot
// present one), so this drives tollgate with bench/load-node.mjs over TLS with a client certificate.
// Part of `npm run bench` (`--only mint`); standalone too (the ES256 sign cost from verify-ceiling.mjs):
//   npm run build && node bench/mint.mjs [--seconds 5] [--rounds 3]
// One tollgate: listen.tls (CA, server and client certificates made with openssl here), internalTokens
// with a key from `tollgate keys rotate` (publishAheadSeconds 0), two rules on different paths: `/plain/**`
// (authenticated) and `/orders/**` (the same plus internalToken). Each round drives, one after another at
// the same concurrency, closed loop:
//   plain       one token, cached, rule without internalToken (the cached path over mTLS)
//   mint        the same token on the minting rule: minted token reused from the cache (a mint hit)
//   plainMany   5,000 distinct tokens (subjects) on the plain rule: the cached path with many tokens,
//               each in the verified-token cache and answered from its prepared allow (both hold 10,000)
//   mintMany    20,000 distinct subjects on the minting rule, their tokens in the verified-token cache:
//               more than the minted-token cache holds, cycled, so every check signs anew (a mint miss)
// CPU µs per check: the server's utime+stime (/proc) ÷ the checks it counted. The hit target is on the
// median of the per-round ratios mint/plain (bench/report.mjs); the miss cost is mintMany − plainMany.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkOnce, checksIn, decisionCounts, diffCounts } from './client.mjs';
import { checkRequestFrame } from './encode.mjs';
import { cpuMicros, runNodeJson, serverNode } from './proc.mjs';
import { startTollgate } from './servers.mjs';
import { claims, generateKeys, jwksOf, signJwt } from './tokens.mjs';

const BENCH = fileURLToPath(new URL('./', import.meta.url));
const CLI = path.join(BENCH, '../dist/cli.js');
/** The gateway Envoy's SPIFFE ID: the client certificate's URI SAN, and the minted tokens' act.sub. */
export const MINT_CALLER = 'spiffe://cluster.local/ns/edge/sa/gateway';
const AUDIENCE = 'orders.shop.svc';
const INTERNAL_TYP = 'tollgate-internal+jwt';
// More subjects than the minted-token cache holds (10,000 entries, LRU): cycling them, every mint misses.
const DISTINCT = 20_000;
// Fewer tokens than the prepared-allow cache holds (10,000, src/server/prepared-allow.ts): the plain
// rule's answers come from prepared bytes, as on the cached path; 20,000 would encode each one whole.
const PLAIN_DISTINCT = 5_000;
const WARMUP_SECONDS = 1;

/** Runs the four loads `rounds` times, alternating, in `dir`; returns the per-round figures and the load. */
export async function measureMint({ dir, seconds, rounds, connections = 4, streams = 32, log = console.log }) {
  const loadStart = loadAverage();
  const pki = makePki(path.join(dir, 'mint-pki'));
  const keysDir = path.join(dir, 'mint-keys');
  mkdirSync(keysDir);
  // The CLI a user runs; publication time "now" with publishAheadSeconds 0 below: the key signs at once.
  execFileSync(serverNode.path, [CLI, 'keys', 'rotate', '--dir', keysDir, '--publish-ahead-seconds', '0', '--ttl-seconds', '120'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });

  const keys = generateKeys();
  const jwksPath = path.join(dir, 'mint-jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwksOf(keys)));
  const token = signJwt(keys.ES256, claims('mint-user', { roles: ['buyer'] }));
  const many = Array.from({ length: DISTINCT }, (_, i) => signJwt(keys.ES256, claims(`mint-user-${i}`, { roles: ['buyer'] })));
  const frame = (t, p, i = 0) => checkRequestFrame({ token: t, path: p, requestId: `mint-${i}` });
  const frames = {
    plain: frame(token, '/plain/1'),
    mint: frame(token, '/orders/1'),
    plainMany: Buffer.concat(many.slice(0, PLAIN_DISTINCT).map((t, i) => frame(t, '/plain/1', i))),
    mintMany: Buffer.concat(many.map((t, i) => frame(t, '/orders/1', i))),
  };
  const files = {};
  for (const [name, bytes] of Object.entries(frames)) writeFileSync((files[name] = path.join(dir, `mint-${name}.bin`)), bytes);

  const server = await startTollgate(dir, 'mint', {
    jwksPath,
    // Every distinct external token stays verified and cached: no signature is verified during the loads.
    tokenCache: 2 * DISTINCT,
    tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.ca, allowedClients: [MINT_CALLER] },
    sections: {
      internalTokens: { issuer: 'https://gateway.bench.invalid', keysDir, claims: ['roles'], publishAheadSeconds: 0 },
      rules: [
        { id: 'plain', match: { paths: ['/plain/**'] }, require: { authenticated: true } },
        { id: 'mint', match: { paths: ['/orders/**'] }, require: { authenticated: true }, internalToken: { audience: AUDIENCE } },
      ],
    },
  });
  try {
    await validate(server, pki, frames);
    // Each run over the distinct frames continues where the last one stopped (load-node --start): one
    // endless cycle through the subjects, so every mint is of a subject last minted DISTINCT mints ago.
    const cursor = { plainMany: 0, mintMany: 0, plain: 0, mint: 0 };
    const drive = async (name, options) => {
      const run = await driven(server, pki, files[name], { connections, streams, start: cursor[name], ...options });
      cursor[name] += run.checks;
      return run;
    };
    // Fill the verified-token cache with every distinct token (and the plain rule's prepared allows),
    // and warm both paths up (JIT).
    await drive('mintMany', { count: DISTINCT });
    await drive('plainMany', { count: PLAIN_DISTINCT });
    for (const name of ['plain', 'mint']) await drive(name, { count: 2000 });
    const measured = [];
    for (let round = 0; round < rounds; round++) {
      const row = {};
      for (const name of ['plain', 'mint', 'plainMany', 'mintMany']) row[name] = await drive(name, { seconds });
      expectMints(row);
      measured.push(row);
      const f = (r) => `${r.rps.toFixed(0)}/s ${r.cpuUsPerCheck.toFixed(1)} µs`;
      log(
        `  round ${round + 1}: plain ${f(row.plain)}; mint hit ${f(row.mint)} (×${(row.mint.cpuUsPerCheck / row.plain.cpuUsPerCheck).toFixed(2)}); ` +
          `distinct plain ${f(row.plainMany)}; mint miss ${f(row.mintMany)} (+${(row.mintMany.cpuUsPerCheck - row.plainMany.cpuUsPerCheck).toFixed(1)} µs)`,
      );
    }
    return {
      rounds: measured,
      distinct: DISTINCT,
      plainDistinct: PLAIN_DISTINCT,
      connections,
      streams,
      seconds,
      caller: MINT_CALLER,
      loadStart,
      loadEnd: loadAverage(),
    };
  } finally {
    await server.stop();
  }
}

/** Both rules answer as they should over mTLS, and the minted token is the one asked for. */
async function validate(server, pki, frames) {
  const tls = pki.clientTls;
  const plain = await checkOnce(server.grpcPort, frames.plain, 5000, tls);
  if (plain.code !== 0 || plain.okHeaderValues.authorization !== undefined)
    throw new Error(`mint: the plain rule answered code ${plain.code} or added a token; see ${server.logFile}`);
  const minted = await checkOnce(server.grpcPort, frames.mint, 5000, tls);
  const bearer = minted.okHeaderValues.authorization ?? '';
  if (minted.code !== 0 || !bearer.startsWith('Bearer '))
    throw new Error(`mint: no internal token (code ${minted.code}); see ${server.logFile}`);
  const [header, payload] = bearer
    .slice('Bearer '.length)
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
  // Compared field by field, never printed: a bench log carries no token.
  if (header.typ !== INTERNAL_TYP || payload.aud !== AUDIENCE || payload.sub !== 'mint-user' || payload.act?.sub !== MINT_CALLER)
    throw new Error(`mint: the minted token is not the expected one (typ, aud, sub or act.sub differ)`);
}

/** The mint counters moved as each load intends: hits without signing, misses signing every check. */
function expectMints(row) {
  const problems = [];
  if (row.mint.minted > row.mint.checks * 0.01) problems.push(`mint hit: ${row.mint.minted} of ${row.mint.checks} checks signed`);
  if (row.mintMany.mintHits > 0) problems.push(`mint miss: ${row.mintMany.mintHits} minted-token cache hits`);
  if (row.mintMany.minted < row.mintMany.checks)
    problems.push(`mint miss: ${row.mintMany.minted} signed for ${row.mintMany.checks} checks`);
  for (const name of ['plain', 'plainMany']) if (row[name].minted + row[name].mintHits > 0) problems.push(`${name}: minted`);
  if (problems.length > 0) throw new Error(`mint: ${problems.join('; ')}`);
}

/** One node-generator run over mTLS (`seconds` after a warm-up, or exactly `count` checks), measured. */
async function driven(server, pki, framesFile, { connections, streams, seconds, count, start }) {
  const before = await counters(server.httpPort);
  const cpuBefore = cpuMicros(server.pid);
  const shape = count === undefined ? ['--duration', String(seconds), '--warmup', String(WARMUP_SECONDS)] : ['--count', String(count)];
  const load = await runNodeJson(
    path.join(BENCH, 'load-node.mjs'),
    [
      '--port',
      String(server.grpcPort),
      '--frames',
      framesFile,
      ...shape,
      '--start',
      String(start),
      '--connections',
      String(connections),
      '--streams',
      String(streams),
      '--ca',
      pki.ca,
      '--cert',
      pki.clientCert,
      '--key',
      pki.clientKey,
    ],
    ((seconds ?? 60) + WARMUP_SECONDS + 60) * 1000,
  );
  const cpu = cpuMicros(server.pid) - cpuBefore;
  const after = await counters(server.httpPort);
  const decisions = diffCounts(after.decisions, before.decisions);
  const checks = checksIn(decisions);
  const refused = checks - checksIn(decisions, (k) => k.startsWith('allow/'));
  if (load.failed > 0 || refused > 0)
    throw new Error(
      `mint: ${load.failed} failed RPCs, ${refused} checks not allowed (${JSON.stringify(decisions)}); see ${server.logFile}`,
    );
  return {
    rps: load.rps,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    checks,
    cpuUsPerCheck: cpu / checks,
    minted: after.minted - before.minted,
    mintHits: after.mintHits - before.mintHits,
  };
}

/** Decision counts plus the internal-token counters (tokens signed, minted-token cache hits). */
async function counters(httpPort) {
  const decisions = await decisionCounts(httpPort);
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const value = (re) => Number(re.exec(text)?.[1] ?? 0);
  return {
    decisions,
    minted: value(/^tollgate_internal_tokens_minted_total\{result="success"\} (\S+)$/m),
    mintHits: value(/^tollgate_internal_token_cache_hits_total (\S+)$/m),
  };
}

/**
 * A CA and two leaves made with the openssl command line (P-256, as cert-manager or SPIRE issue them):
 * tollgate's server certificate (localhost) and the gateway Envoy's client certificate (MINT_CALLER).
 */
function makePki(dir) {
  mkdirSync(dir);
  const file = (name) => path.join(dir, name);
  const openssl = (args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...newKey, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-subj', '/CN=tollgate bench CA', '-days', '2']);
  const leaf = (name, san, serial) => {
    writeFileSync(
      file(`${name}.ext`),
      `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n`,
    );
    openssl(['req', '-new', ...newKey, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`]);
    const signer = ['-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-set_serial', serial, '-days', '1'];
    openssl(['x509', '-req', '-in', file(`${name}.csr`), ...signer, '-extfile', file(`${name}.ext`), '-out', file(`${name}.crt`)]);
  };
  leaf('server', 'URI:spiffe://cluster.local/ns/tollgate/sa/tollgate,DNS:localhost', '1001');
  leaf('client', `URI:${MINT_CALLER}`, '1002');
  const pki = {
    ca: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
  };
  pki.clientTls = { ca: readFileSync(pki.ca), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) };
  return pki;
}

const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-mint-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const { mintLines, targets } = await import('./report.mjs');
  const ceiling = await runNodeJson(path.join(BENCH, 'verify-ceiling.mjs'), ['1'], 60_000, { node: serverNode.path });
  const mint = await measureMint({ dir, seconds: Number(args.seconds), rounds: Number(args.rounds) });
  const results = { scenarios: [], ceiling, mint };
  for (const line of mintLines(results)) console.log(line);
  for (const t of targets(results)) console.log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`);
  process.exit(0);
}
