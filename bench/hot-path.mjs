// In-process CPU cost of one Check on a cached token, split into its parts: grpc-js's request decode,
// tollgate's handler, the response encode. No sockets, so other load on the machine changes the figures
// less than it changes h2load's; five rounds are printed so their spread shows. Then the bytes one
// Check allocates (V8's sampling heap profiler, garbage included), for a cached token and for a token
// verified on every Check (the same HS256 token, cache off): what the garbage collector has to clear.
// usage: npm run build && node bench/hot-path.mjs [checks per round, default 100000]
import { Session } from 'node:inspector/promises';
import { Registry } from 'prom-client';
import { SignJWT } from 'jose';
const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const { parseConfig } = await import(`${root}/dist/config/load.js`);
const { buildRuntime } = await import(`${root}/dist/server/runtime.js`);
const { createCheckHandler, createChecker } = await import(`${root}/dist/server/check.js`);
const { createCheckMetrics } = await import(`${root}/dist/observability/metrics.js`);
const { silentLogger } = await import(`${root}/dist/observability/logger.js`);
const { systemClock } = await import(`${root}/dist/util/clock.js`);
const { loadAuthorizationPackage } = await import(`${root}/dist/server/proto.js`);
const { withTolerantCheckDecoding } = await import(`${root}/dist/server/check-codec.js`);
process.env.HOT_SECRET = 'pipeline-unit-test-secret-0123456789abcdef';
const configText = (tokenCacheEntries) => `
tokenCache: { maxEntries: ${tokenCacheEntries} }
providers:
  - name: idp
    issuer: https://idp.example.com
    audiences: [api]
    algorithms: [HS256]
    hmacSecret: { env: HOT_SECRET }
    claimToHeaders: [{ header: x-user-id, claim: sub }, { header: x-user-roles, claim: roles }]
rules:
  - id: api
    match: { paths: ["/**"] }
    require: { authenticated: true }
`;
/** A Check handler on its own runtime, as the server builds it. */
async function handlerWith(tokenCacheEntries) {
  const registry = new Registry();
  const deps = { logger: silentLogger(), registry, clock: systemClock };
  const runtime = buildRuntime(parseConfig(configText(tokenCacheEntries), '/'), deps);
  await runtime.start();
  const metrics = createCheckMetrics(registry, { tokenCacheEntries: () => 0 });
  return createCheckHandler(createChecker({ runtime: () => runtime, revocation: () => undefined, metrics, logger: deps.logger }));
}
const handler = await handlerWith(10_000);
const uncachedHandler = await handlerWith(0);
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ sub: 'alice', roles: ['a', 'b'] })
  .setProtectedHeader({ alg: 'HS256' })
  .setIssuer('https://idp.example.com')
  .setAudience('api')
  .setIssuedAt(now)
  .setExpirationTime(now + 3600)
  .sign(new TextEncoder().encode(process.env.HOT_SECRET));
const pkg = loadAuthorizationPackage();
// The service definition as tollgate's gRPC server uses it: its own decoder and encoder.
const svc = withTolerantCheckDecoding(pkg['envoy.service.auth.v3.Authorization']);
const decode = svc.Check.requestDeserialize;
const encode = svc.Check.responseSerialize;
const reqBytes = svc.Check.requestSerialize({
  attributes: {
    request: {
      http: {
        id: '1',
        method: 'GET',
        path: '/api/x',
        host: 'api.example.com',
        headers: {
          ':method': 'GET',
          ':path': '/api/x',
          ':authority': 'api.example.com',
          authorization: `Bearer ${token}`,
          'x-request-id': 'abc',
          accept: '*/*',
          'user-agent': 'curl',
        },
      },
    },
  },
});
const N = Number(process.argv[2] ?? 100000);
const request = decode(reqBytes);
await handler(request); // verifies the token and caches it
const response = await handler(request); // a cached token's allow, as it is answered from then on
/** CPU µs per call of `step`, over N calls. */
async function cost(step) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) await step();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / N;
}
const steps = {
  total: async () => encode(await handler(decode(reqBytes))),
  decode: () => decode(reqBytes),
  handler: () => handler(request),
  encode: () => encode(response),
};
const out = {};
for (const name of Object.keys(steps)) await cost(steps[name]); // warm-up
for (let r = 0; r < 5; r++)
  for (const [name, step] of Object.entries(steps)) (out[name] ??= []).push(Number((await cost(step)).toFixed(2)));
/** Bytes allocated per Check (decode, handler, encode), collected garbage included. */
async function allocatedPerCheck(checkHandler) {
  const check = async () => encode(await checkHandler(decode(reqBytes)));
  for (let i = 0; i < 5000; i++) await check();
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let i = 0; i < N; i++) await check();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  const sum = (node) => node.selfSize + node.children.reduce((total, child) => total + sum(child), 0);
  return Math.round(sum(profile.head) / N);
}
const bytesPerCheck = { cached: await allocatedPerCheck(handler), verifiedEveryCheck: await allocatedPerCheck(uncachedHandler) };
console.log(JSON.stringify({ cpuMicrosPerCall: out, bytesPerCheck }));
process.exit(0);
