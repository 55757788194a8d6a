// `node bench/internal-tokens.mjs` (after `npm run build`): what minting internal tokens adds to a
// check, measured in-process on tollgate's Check handler and its response serializer (no HTTP/2 or
// TLS, so the share it reports is an upper bound for a real check; bench/mint.mjs measures the whole
// server over mTLS gRPC).
//   cached:        a cached external token, rule without internalToken (the cached path)
//   mint-hit:      the same with internalToken, minted token reused from the cache
//   mint alone:    InternalTokens.issue on a cache hit and on a miss (new subject: sign + insert)
//   sign-only:     one ES256 crypto.sign of a token-sized input, for comparison with the miss
// Prints CPU µs per check (process.cpuUsage, median of rounds) and the mint-hit overhead.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sign } from 'node:crypto';
import { Registry } from 'prom-client';
import { parseConfig } from '../dist/config/load.js';
import { InternalTokens } from '../dist/internal-tokens/index.js';
import { rotateKeys } from '../dist/internal-tokens/rotate.js';
import { createLogger } from '../dist/observability/logger.js';
import { createCheckMetrics } from '../dist/observability/metrics.js';
import { createCheckHandler, createChecker } from '../dist/server/check.js';
import { withTolerantCheckDecoding } from '../dist/server/check-codec.js';
import { AUTHORIZATION_SERVICE, loadAuthorizationPackage } from '../dist/server/proto.js';
import { decodeCheckResponse, grpcFrame } from './encode.mjs';
import { buildRuntime } from '../dist/server/runtime.js';
import { AUDIENCE, ISSUER, claims, generateKeys, jwksOf, signJwt } from './tokens.mjs';

const ITERATIONS = Number(process.argv[2] ?? 20_000);
const ROUNDS = 5;
const CALLER = { id: 'spiffe://cluster.local/ns/edge/sa/gateway', certificate: Buffer.from('gateway') };

const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-it-'));
const keys = generateKeys();
writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwksOf(keys)));
await rotateKeys(dir, { algorithm: 'ES256', publishAheadSeconds: 0, ttlSeconds: 120, nowSeconds: Math.floor(Date.now() / 1000) - 10 });

function handler(internalToken) {
  const yaml = JSON.stringify({
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', tls: { certFile: 'x', keyFile: 'x', clientCaFile: 'x' } },
    providers: [
      { name: 'bench', issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256', 'RS256'], jwks: { file: path.join(dir, 'jwks.json') } },
    ],
    internalTokens: { issuer: 'https://gateway.bench', keysDir: dir, claims: ['roles'] },
    rules: [
      {
        id: 'api',
        match: { paths: ['/**'] },
        require: { authenticated: true },
        ...(internalToken ? { internalToken: { audience: '{host}' } } : {}),
      },
    ],
    log: { level: 'silent' },
  });
  const config = parseConfig(yaml, dir);
  const registry = new Registry();
  const deps = { logger: createLogger('silent'), registry, clock: { now: () => Date.now() } };
  const runtime = buildRuntime(config, deps);
  const tokens = new InternalTokens(config.internalTokens, deps).start();
  tokens.stop();
  const check = createCheckHandler(
    createChecker({
      runtime: () => runtime,
      revocation: () => undefined,
      metrics: createCheckMetrics(registry, { tokenCacheEntries: () => 0 }),
      logger: deps.logger,
      internalTokens: () => tokens,
    }),
  );
  return { runtime, check };
}

const request = (token) => ({
  attributes: {
    source: { principal: '' },
    request: {
      http: {
        method: 'GET',
        path: '/orders/1',
        host: 'orders.shop.svc',
        headers: {
          ':method': 'GET',
          ':path': '/orders/1',
          ':authority': 'orders.shop.svc',
          authorization: `Bearer ${token}`,
          'x-request-id': 'r',
        },
      },
    },
  },
});

// The bytes grpc-js would send: a prepared allow writes its bytes, any other response is encoded whole.
const { responseSerialize } = withTolerantCheckDecoding(loadAuthorizationPackage()[AUTHORIZATION_SERVICE]).Check;

async function cpuPerCheck(check, requests) {
  for (let i = 0; i < 2000; i++) responseSerialize(await check(requests(i), CALLER)); // warm-up
  const results = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < ITERATIONS; i++) {
      const bytes = responseSerialize(await check(requests(i), CALLER));
      // One answer per round decoded (decoding is the client's work, not the server's).
      const { code } = i === 0 ? decodeCheckResponse(grpcFrame(bytes)) : { code: 0 };
      if (code !== 0) throw new Error(`denied: status ${code}`);
    }
    const used = process.cpuUsage(before);
    results.push((used.user + used.system) / ITERATIONS);
  }
  return results.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
}

const token = signJwt(keys.ES256, claims('alice', { roles: ['buyer'] }));
const plain = handler(false);
const minting = handler(true);
await plain.runtime.start();
await minting.runtime.start();

const cached = await cpuPerCheck(plain.check, () => request(token));
const hit = await cpuPerCheck(minting.check, () => request(token));
// The mint alone: the same request (cache hit) against a new subject each time (sign + cache insert).
const tokens = new InternalTokens(
  parseConfig(
    JSON.stringify({
      listen: { tls: { certFile: 'x', keyFile: 'x', clientCaFile: 'x' } },
      internalTokens: { issuer: 'https://gateway.bench', keysDir: dir, claims: ['roles'] },
    }),
    dir,
  ).internalTokens,
  { logger: createLogger('silent'), registry: new Registry(), clock: { now: () => Date.now() } },
).start();
tokens.stop();
const spec = { audience: 'orders.shop.svc', exchange: false };
const exp = Math.floor(Date.now() / 1000) + 3600;
function cpuOf(fn) {
  const before = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) fn(i);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / ITERATIONS;
}
const issueHit = cpuOf(() => tokens.issue(spec, { sub: 'alice', exp, roles: ['buyer'] }, CALLER));
const issueMiss = cpuOf((i) => tokens.issue(spec, { sub: `user-${i}`, exp, roles: ['buyer'] }, CALLER));

const input = Buffer.from('x'.repeat(400));
const privateKey = keys.ES256.privateKey;
const before = process.cpuUsage();
for (let i = 0; i < ITERATIONS; i++) sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
const signUsed = process.cpuUsage(before);
const signOnly = (signUsed.user + signUsed.system) / ITERATIONS;

plain.runtime.stop();
minting.runtime.stop();
rmSync(dir, { recursive: true, force: true });

const f = (n) => `${n.toFixed(2)} µs`;
console.log(`cached path (no internalToken):   ${f(cached)} CPU per check`);
console.log(
  `internalToken, cache hit:         ${f(hit)} CPU per check (+${(((hit - cached) / cached) * 100).toFixed(1)} %, target < 10 %)`,
);
console.log(`mint alone, cache hit:            ${f(issueHit)}`);
console.log(`mint alone, cache miss:           ${f(issueMiss)} (sign, jti, cache insert)`);
console.log(`one ES256 signature (node:crypto): ${f(signOnly)}`);
