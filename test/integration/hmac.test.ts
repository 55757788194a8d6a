import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

describe('a provider with a shared HMAC secret', () => {
  let tg: RunningTollgate;
  beforeAll(async () => {
    tg = await startTollgate(
      {
        providers: [
          {
            name: 'legacy',
            issuer: 'https://legacy.example.com',
            audiences: ['api'],
            algorithms: ['HS256'],
            hmacSecret: { file: 'hmac-secret' },
          },
        ],
        rules: [{ id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } }],
      },
      { 'hmac-secret': `${SECRET}\n` },
    );
  });
  afterAll(async () => tg?.close());

  const sign = (secret: string, alg = 'HS256') =>
    new SignJWT({ sub: 'svc' })
      .setProtectedHeader({ alg })
      .setIssuer('https://legacy.example.com')
      .setAudience('api')
      .setIssuedAt(nowSeconds(tg.clock))
      .setExpirationTime(nowSeconds(tg.clock) + 60)
      .sign(new TextEncoder().encode(secret));
  const check = async (token: string) => tg.client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }));

  it('accepts HS256 signed with the configured secret', async () => {
    expect((await check(await sign(SECRET))).status?.code).toBe(0);
  });

  it('denies HS256 signed with another secret, and HS512 which the allow-list does not name', async () => {
    expect(deniedBody(await check(await sign('another-secret-of-at-least-32-bytes!!!'))).reason).toBe('invalid_signature');
    expect(deniedBody(await check(await sign(SECRET, 'HS512'))).reason).toBe('unsupported_algorithm');
  });

  it('never logs the secret', () => {
    expect(tg.logText()).not.toContain(SECRET);
  });
});

describe('an HMAC secret that is too short', () => {
  it('is refused at start, naming the field', async () => {
    await expect(
      startTollgate(
        {
          providers: [
            {
              name: 'legacy',
              issuer: 'https://legacy.example.com',
              audiences: ['api'],
              algorithms: ['HS256'],
              hmacSecret: { file: 'short' },
            },
          ],
        },
        { short: 'too-short' },
      ),
    ).rejects.toThrow('config: providers[0].hmacSecret: the secret must be at least 32 bytes');
  });
});
