// Inline (synchronous crypto.verify on the event loop) against the thread pool (its callback form), per
// algorithm: CPU µs per verification for the whole process (all threads) and for the main thread alone
// (what the event loop cannot spend on gRPC), 64 verifications in flight as under load.
// usage: node bench/verify-modes.mjs [verifications per round, default 20000] → JSON, five rounds each
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { claims, cryptoArgs, generateKeys, signJwt } from './tokens.mjs';

const N = Number(process.argv[2] ?? 20_000);
const IN_FLIGHT = 64;
const keys = generateKeys();
const cpu = (usage) => usage.user + usage.system;
/** The main thread's CPU µs, from /proc (clock ticks of 10 ms: rounds are long enough for that). */
function mainThreadCpuUs() {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function round(alg, mode) {
  const token = signJwt(keys[alg], claims('modes'));
  const dot = token.lastIndexOf('.');
  const data = Buffer.from(token.slice(0, dot));
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  const [digest, key] = cryptoArgs(alg, createPublicKey({ key: keys[alg].jwk, format: 'jwk' }));
  const one =
    mode === 'inline'
      ? () => Promise.resolve(verify(digest, data, key, signature))
      : () => new Promise((resolve, reject) => verify(digest, data, key, signature, (err, ok) => (err ? reject(err) : resolve(ok))));
  const process0 = cpu(process.cpuUsage());
  const main0 = mainThreadCpuUs();
  let next = 0;
  const worker = async () => {
    while (next++ < N) if (!(await one())) throw new Error(`${alg}: signature does not verify`);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { processUs: (cpu(process.cpuUsage()) - process0) / N, mainThreadUs: (mainThreadCpuUs() - main0) / N };
}

const out = {};
for (const alg of ['ES256', 'RS256', 'EdDSA']) {
  for (const mode of ['inline', 'pool']) {
    await round(alg, mode); // warm-up
    const rounds = [];
    for (let r = 0; r < 5; r++) rounds.push(await round(alg, mode));
    out[`${alg} ${mode}`] = {
      processUs: rounds.map((r) => Number(r.processUs.toFixed(1))),
      mainThreadUs: rounds.map((r) => Number(r.mainThreadUs.toFixed(1))),
    };
  }
}
for (const [name, r] of Object.entries(out)) console.log(JSON.stringify({ [name]: r }));
