/**
 * Every log line a client can trigger on each request is bounded: in count (the denial lines' per-second
 * budget, shared by the unsafe-claim warning) and in size (a client-chosen path or request id is
 * logged as a 256-character prefix). Bounded lines per request and per second bound the log's memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { es256Provider, nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const LINES_PER_SECOND = 10;

describe('client-triggered log lines', () => {
  let key: TestKey;
  let jwksServer: TestHttpServer;
  let tg: RunningTollgate;

  beforeAll(async () => {
    key = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(key));
    tg = await startTollgate({
      providers: [
        { ...es256Provider(ISSUER, 'api', `${jwksServer.url}/jwks`), claimToHeaders: [{ header: 'x-user-name', claim: 'name' }] },
      ],
      log: { denialsPerSecond: LINES_PER_SECOND },
      rules: [
        { id: 'open', match: { paths: ['/open/**'] }, require: { anonymous: true } },
        { id: 'api', match: { paths: ['/api/**'] }, require: { authenticated: true } },
      ],
    });
  });
  afterAll(async () => {
    await tg?.close();
    await jwksServer?.close();
  });

  it('a denial with a 20,000-character path logs 256 characters of it, and its length', async () => {
    const path = `/nowhere/${'a'.repeat(20_000)}`;
    await tg.client.check(checkRequest({ path }));
    const line = tg.logs.filter((l) => l.msg === 'check denied').at(-1)!;
    expect(line.path).toBe(`${path.slice(0, 256)}…(${path.length} chars)`);
    expect(JSON.stringify(line).length).toBeLessThan(1000);
  });

  it('a flood of allowed requests whose claim cannot be a header value: warnings within the per-second budget', async () => {
    const token = await mint(ISSUER, 'api', { key, claims: { sub: 'u', name: 'line\nbreak' }, now: nowSeconds(tg.clock) });
    const before = tg.logs.length;
    tg.clock.advance(1000); // a fresh one-second window (the test clock stands still otherwise)
    const answers = await Promise.all(
      Array.from({ length: 300 }, () => tg.client.check(checkRequest({ path: '/api/x', headers: { authorization: `Bearer ${token}` } }))),
    );
    expect(answers.every((a) => (a.status?.code ?? 0) === 0)).toBe(true);
    const warnings = tg.logs.slice(before).filter((l) => l.msg === 'claim value is not a safe header value; header not injected');
    expect(warnings).toHaveLength(LINES_PER_SECOND);
    // The next window's first line says how many were left out (another token: an answer prepared
    // for the first one is reused without building its headers again).
    tg.clock.advance(1000);
    const next = await mint(ISSUER, 'api', { key, claims: { sub: 'v', name: 'line\nbreak' }, now: nowSeconds(tg.clock) });
    await tg.client.check(checkRequest({ path: '/api/x', headers: { authorization: `Bearer ${next}` } }));
    const first = tg.logs.filter((l) => l.msg === 'claim value is not a safe header value; header not injected').at(-1);
    // How many depends on how many of the 300 arrived before the first answer was prepared for reuse.
    expect(first?.denialLinesSkipped).toBeGreaterThan(0);
  });
});
