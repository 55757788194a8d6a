// In-process CPU cost of one DPoP proof check, split: what the proof costs beside its signature.
// No sockets and no server, so the figures separate tollgate's proof work from the signature and from
// the gRPC path that bench/dpop.mjs measures whole. Per round, 128 in flight (as bench/dpop.mjs's
// load keeps them), µs of process CPU per proof:
//   proof    verifyProof (split, header cache, payload, htm/htu/iat/ath, the signature on the thread
//            pool) and the replay guard's claim: what a DPoP check adds to a cached token's check
//   async    the same ES256 signature through verifySignature (the thread pool) alone
//   sync     crypto.verify on the main thread: what bench/verify-ceiling.mjs measures
// proof − async is tollgate's own work on a proof; async − sync what the thread pool costs.
// usage: npm run build && node bench/dpop-proof.mjs [proofs per round, default 20000]
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { median } from './report.mjs';

const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const { verifyProof } = await import(`${root}/dist/pipeline/dpop.js`);
const { ReplayGuard } = await import(`${root}/dist/pipeline/dpop-replay.js`);
const { verifySignature } = await import(`${root}/dist/keys/signature.js`);

const COUNT = Number(process.argv[2] ?? 20_000);
const IN_FLIGHT = 128;
const ROUNDS = 5;
const HTU = 'https://api.bench.invalid/api/orders/42';
const b64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
// Only its hash is checked (ath): the access token's own verification is the cached path's.
const accessToken = `${b64url({ alg: 'ES256' })}.${b64url({ sub: 'bench', cnf: { jkt: 'x' } })}.${'s'.repeat(86)}`;
const header = b64url({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } });
const settings = { algorithms: ['ES256'], maxAgeSeconds: 60, skewSeconds: 30 };

/** `COUNT` proofs signed now, each with its own jti; with their signing inputs and signatures apart. */
function proofsFor(round) {
  const iat = Math.floor(Date.now() / 1000);
  const ath = createHash('sha256').update(accessToken).digest('base64url');
  return Array.from({ length: COUNT }, (_, i) => {
    const input = `${header}.${b64url({ jti: `r${round}-${i}`, htm: 'GET', htu: HTU, iat, ath })}`;
    const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return { input: Buffer.from(input), signature, proof: `${input}.${signature.toString('base64url')}` };
  });
}

/** µs of this process's CPU per item, `run` called for each with at most IN_FLIGHT pending. */
async function cpuPer(items, run) {
  const before = process.cpuUsage();
  for (let i = 0; i < items.length; i += IN_FLIGHT) await Promise.all(items.slice(i, i + IN_FLIGHT).map(run));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / items.length;
}

const guard = new ReplayGuard(() => Date.now());
const nowSeconds = () => Math.floor(Date.now() / 1000);
const rows = [];
for (let round = 0; round <= ROUNDS; round++) {
  const proofs = proofsFor(round);
  const proof = await cpuPer(proofs, async ({ proof: text }) => {
    const valid = await verifyProof(text, { method: 'GET', uri: HTU, accessToken, nowSeconds: nowSeconds() }, settings);
    if (!valid || guard.claim(valid.jkt, valid.jti, valid.acceptableUntil, undefined) !== 'fresh')
      throw new Error('a bench proof was refused');
  });
  const async = await cpuPer(proofs, async ({ input, signature }) => {
    if (!(await verifySignature('ES256', publicKey, input, signature))) throw new Error('a bench signature was refused');
  });
  const sync = await cpuPer(proofs, async ({ input, signature }) => {
    if (!verify('sha256', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature))
      throw new Error('a bench signature was refused');
  });
  if (round === 0) continue; // warm-up: JIT, the header cache, the key's import
  rows.push({ proof, async, sync });
  console.log(
    `round ${round}: proof ${proof.toFixed(1)} µs, async signature ${async.toFixed(1)} µs, sync crypto.verify ${sync.toFixed(1)} µs` +
      ` → the proof's own work ${(proof - async).toFixed(1)} µs, the thread pool ${(async - sync).toFixed(1)} µs`,
  );
}
console.log(
  `median of ${ROUNDS} rounds of ${COUNT} proofs, ${IN_FLIGHT} in flight: the proof's own work ${median(rows.map((r) => r.proof - r.async)).toFixed(1)} µs, ` +
    `the thread pool ${median(rows.map((r) => r.async - r.sync)).toFixed(1)} µs beyond a sync verification of ${median(rows.map((r) => r.sync)).toFixed(1)} µs`,
);
