// The signature-verification ceiling: node's crypto.verify in a tight loop on one core (this
// process's main thread), on a real token's signing input, for ES256, RS256 and EdDSA. jose.jwtVerify is
// measured too, for context (it parses, checks claims and calls the same crypto). And one ES256
// crypto.sign the same way (`sign_ES256`): what minting an internal token pays for its signature.
// usage: node bench/verify-ceiling.mjs [secondsPerAlgorithm=2]  → one JSON line
import { createPublicKey, sign, verify } from 'node:crypto';
import { jwtVerify } from 'jose';
import { AUDIENCE, ISSUER, claims, cryptoArgs, generateKeys, signJwt } from './tokens.mjs';

const seconds = Number(process.argv[2] ?? 2);
const keys = generateKeys();

function rate(fn, forSeconds) {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let n = 0;
  const start = performance.now();
  const end = start + forSeconds * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    now = performance.now();
  }
  return n / ((now - start) / 1000);
}

async function rateAsync(fn, forSeconds) {
  for (let i = 0; i < 100; i++) await fn();
  let n = 0;
  const start = performance.now();
  const end = start + forSeconds * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 20; i++) await fn();
    n += 20;
    now = performance.now();
  }
  return n / ((now - start) / 1000);
}

const out = {};
for (const alg of ['ES256', 'RS256', 'EdDSA']) {
  const key = keys[alg];
  const token = signJwt(key, claims('ceiling'));
  const dot = token.lastIndexOf('.');
  const data = Buffer.from(token.slice(0, dot));
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  const publicKey = createPublicKey({ key: key.jwk, format: 'jwk' });
  const [digest, options] = cryptoArgs(alg, publicKey);
  if (!verify(digest, data, options, signature)) throw new Error(`verify-ceiling: ${alg} signature does not verify`);
  out[alg] = rate(() => verify(digest, data, options, signature), seconds);
  const verifyOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: [alg] };
  out[`jose_${alg}`] = await rateAsync(() => jwtVerify(token, publicKey, verifyOptions), seconds / 2);
  if (alg === 'ES256') {
    const [signDigest, signOptions] = cryptoArgs(alg, key.privateKey);
    out.sign_ES256 = rate(() => sign(signDigest, data, signOptions), seconds);
  }
}
console.log(JSON.stringify(out));
