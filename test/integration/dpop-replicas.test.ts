import { generateProof, generateKeyPair } from 'dpop';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';
import { RedisServer } from '../revocation/redis-server.js';

const ISSUER = 'https://idp.example.com';
const HOST = 'api.example.com';
const PATH = '/api/orders';

/**
 * Two tollgate replicas on one real Redis (the revocation store): a DPoP proof accepted by replica A
 * is refused by replica B, and with Redis gone no proof is accepted at all (fail closed).
 */
describe('DPoP replay across replicas', () => {
  let redis: RedisServer;
  let jwksServer: TestHttpServer;
  let idp: TestKey;
  let a: RunningTollgate;
  let b: RunningTollgate;

  beforeAll(async () => {
    redis = await RedisServer.launch();
    idp = await testKey('ES256');
    jwksServer = await startJwksServer(jwks(idp));
    const config = {
      providers: [
        { name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks.json` }, dpop: {} },
      ],
      rules: [{ id: 'api', match: { paths: ['/api/**'] }, require: { authenticated: true } }],
      revocation: { store: 'redis', redis: { url: redis.url, timeoutSeconds: 1 } },
    };
    a = await startTollgate(config);
    b = await startTollgate(config);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await jwksServer?.close();
    await redis?.dispose();
  });

  const request = async () => {
    const keyPair = await generateKeyPair('ES256');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    const token = await mint(ISSUER, 'api', { key: idp, claims: { cnf: { jkt } }, now: nowSeconds(a.clock) });
    const proof = await generateProof(keyPair, `https://${HOST}${PATH}`, 'GET', undefined, token);
    return checkRequest({ host: HOST, path: PATH, headers: { authorization: `DPoP ${token}`, dpop: proof } });
  };

  it('refuses on replica B a proof replica A accepted', async () => {
    const sent = await request();
    expect((await a.client.check(sent)).status?.code).toBe(0);
    const replayed = await b.client.check(sent);
    expect(deniedBody(replayed).reason).toBe('dpop_proof_replayed');
  });

  it('refuses every proof while Redis is unreachable', async () => {
    await redis.stop();
    try {
      const denied = await a.client.check(await request());
      expect(deniedBody(denied).reason).toBe('dpop_replay_unavailable');
    } finally {
      await redis.start();
    }
  });
});
