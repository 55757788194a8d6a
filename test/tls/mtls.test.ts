import { connect } from 'node:tls';
import { request } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { checkRequest, EnvoyClient } from '../helpers/envoy-client.js';
import { SecretDir, TestCa, TLS_CHANNEL_OPTIONS, type IssuedPair } from '../helpers/pki.js';
import { waitFor } from '../helpers/time.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const SERVER_ID = 'spiffe://test.local/ns/authz/sa/tollgate';
const GATEWAY_ID = 'spiffe://test.local/ns/edge/sa/gateway';
const OTHER_ID = 'spiffe://test.local/ns/shop/sa/orders';

let ca: TestCa;
let strangerCa: TestCa;
let gateway: IssuedPair;
let other: IssuedPair;
let stranger: IssuedPair;
let secret: SecretDir;
let tg: RunningTollgate;

const clientCredentials = (pair?: IssuedPair) =>
  grpc.credentials.createSsl(Buffer.from(ca.cert), pair ? Buffer.from(pair.key) : null, pair ? Buffer.from(pair.cert) : null);

/** The serial of the certificate a fresh TLS connection to `port` is served. */
function servedSerial(port: number, alpn = 'h2'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.cert, cert: gateway.cert, key: gateway.key, ALPNProtocols: [alpn] }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

function httpsGet(port: number, path: string, pair?: IssuedPair): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: ca.cert, cert: pair?.cert, key: pair?.key, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metric(name: string): Promise<string> {
  const text = await tg.app.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

beforeAll(async () => {
  ca = new TestCa();
  strangerCa = new TestCa('another CA');
  gateway = ca.issue(GATEWAY_ID);
  other = ca.issue(OTHER_ID);
  stranger = strangerCa.issue(GATEWAY_ID);
  const server = ca.issue(SERVER_ID);
  secret = new SecretDir({ 'tls.crt': server.cert, 'tls.key': server.key, 'ca.crt': ca.cert });
  const tls = {
    certFile: secret.path('tls.crt'),
    keyFile: secret.path('tls.key'),
    clientCaFile: secret.path('ca.crt'),
    allowedClients: ['spiffe://test.local/ns/edge/*'],
  };
  tg = await startTollgate(
    {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0', tls, httpTls: tls },
      rules: [{ id: 'open', match: { paths: ['/**'] }, require: { anonymous: true } }],
    },
    {},
    { clockStart: Date.now(), tlsPollMs: 50, clientCredentials: clientCredentials(gateway) },
  );
});

afterAll(async () => {
  await tg?.close();
  ca?.remove();
  strangerCa?.remove();
  secret?.remove();
});

describe('mTLS on the gRPC listener', () => {
  it('decides for a client whose SPIFFE ID is in allowedClients', async () => {
    const response = await tg.client.check(checkRequest());
    expect(response.status?.code ?? 0).toBe(0);
  });

  it('refuses the handshake without a client certificate, or with one from another CA', async () => {
    for (const credentials of [
      clientCredentials(),
      grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(stranger.key), Buffer.from(stranger.cert)),
    ]) {
      const client = new EnvoyClient(tg.app.grpcPort, credentials, TLS_CHANNEL_OPTIONS);
      await expect(client.check(checkRequest())).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      client.close();
    }
  });

  it('answers UNAUTHENTICATED, logs and counts a CA-signed client outside allowedClients; no decision is made', async () => {
    const before = await metric('tollgate_check_total');
    const client = new EnvoyClient(tg.app.grpcPort, clientCredentials(other), TLS_CHANNEL_OPTIONS);
    await expect(client.check(checkRequest())).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: 'client certificate not allowed',
    });
    client.close();
    expect(await metric('tollgate_check_total')).toBe(before);
    expect(await metric('tollgate_tls_clients_refused_total{listener="grpc"}')).toMatch(/ 1$/);
    expect(tg.logs.some((l) => l.msg === 'client certificate not in allowedClients; refused' && l.principal === OTHER_ID)).toBe(true);
  });
});

describe('mTLS on the HTTP port', () => {
  it('covers the HTTP authorization port too: a proxy needs a certificate from the client CA to ask', async () => {
    expect((await httpsGet(tg.app.authzPort, '/envoy/api/things', gateway)).status).toBe(200);
    await expect(httpsGet(tg.app.authzPort, '/envoy/api/things')).rejects.toThrow();
    await expect(httpsGet(tg.app.authzPort, '/envoy/api/things', stranger)).rejects.toThrow();
  });

  it('serves an allowed client, refuses one without a certificate and closes on one outside allowedClients', async () => {
    expect((await httpsGet(tg.app.httpPort, '/healthz', gateway)).status).toBe(200);
    await expect(httpsGet(tg.app.httpPort, '/healthz')).rejects.toThrow();
    await expect(httpsGet(tg.app.httpPort, '/healthz', other)).rejects.toThrow();
    expect(await metric('tollgate_tls_clients_refused_total{listener="http"}')).toMatch(/ 1$/);
  });
});

describe('certificate reload', () => {
  it('rotates 20 times during a steady stream of checks with zero failed checks; new connections get the new pair within 5 s', async () => {
    const pairs = Array.from({ length: 20 }, () => ca.issue(SERVER_ID));
    let stop = false;
    let done = 0;
    const failures: unknown[] = [];
    const stream = (async () => {
      // Stops at the first failure: one is enough to fail the test.
      while (!stop && failures.length === 0) {
        try {
          const response = await tg.client.check(checkRequest());
          if ((response.status?.code ?? 0) !== 0) failures.push(response.status);
          done++;
        } catch (err) {
          failures.push(err);
        }
      }
    })();
    try {
      await rotate(pairs);
    } finally {
      stop = true;
      await stream;
    }
    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(20);
    expect(await metric('tollgate_tls_reloads_total{listener="grpc",result="success"}')).toMatch(/ 20$/);
  }, 60_000);

  async function rotate(pairs: IssuedPair[]): Promise<void> {
    for (const pair of pairs) {
      tg.clock.set(Date.now()); // the test clock follows real time here: openssl stamps notBefore with it
      secret.update({ 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': ca.cert });
      await waitFor('the new certificate on new gRPC connections', async () => (await servedSerial(tg.app.grpcPort)) === pair.serial, {
        timeoutMs: 5000,
        intervalMs: 20,
      });
      await waitFor('the new certificate on the HTTP port', async () => (await servedSerial(tg.app.httpPort, 'http/1.1')) === pair.serial, {
        timeoutMs: 5000,
        intervalMs: 20,
      });
      // A check on a fresh connection, handshaking with the new pair.
      const fresh = new EnvoyClient(tg.app.grpcPort, clientCredentials(gateway), TLS_CHANNEL_OPTIONS);
      try {
        expect((await fresh.check(checkRequest())).status?.code ?? 0).toBe(0);
      } finally {
        fresh.close();
      }
    }
  }

  it('refuses a key that does not match, or a certificate from another CA, with a log line; the last good pair keeps serving', async () => {
    const serving = await servedSerial(tg.app.grpcPort);
    const good = ca.issue(SERVER_ID);
    const errorsBefore = tg.logs.filter((l) => l.msg === 'listen.tls: new certificate refused; the previous one keeps serving').length;
    secret.update({ 'tls.crt': good.cert, 'tls.key': other.key, 'ca.crt': ca.cert });
    await waitFor('the mismatched key refused', () =>
      tg.logs.some((l) => l.error === 'the key does not match the certificate' && l.listener === 'grpc'),
    );
    secret.update({ 'tls.crt': stranger.cert, 'tls.key': stranger.key, 'ca.crt': ca.cert });
    await waitFor('the foreign certificate refused', () =>
      tg.logs.some((l) => l.error === 'the certificate does not chain to clientCaFile' && l.listener === 'grpc'),
    );
    expect(tg.logs.filter((l) => l.msg === 'listen.tls: new certificate refused; the previous one keeps serving').length).toBe(
      errorsBefore + 2,
    );
    expect(await servedSerial(tg.app.grpcPort)).toBe(serving);
    expect((await tg.client.check(checkRequest())).status?.code ?? 0).toBe(0);
    expect(tg.logText()).not.toContain('PRIVATE KEY');
  });

  it('refuses a pair Node cannot serve (RSA-1024, CA-signed, key matching, dates valid) on both listeners; the old pair keeps serving', async () => {
    const grpcSerial = await servedSerial(tg.app.grpcPort);
    const httpSerial = await servedSerial(tg.app.httpPort, 'http/1.1');
    const refusedBefore = await metric('tollgate_tls_reloads_total{listener="http",result="error"}');
    const weak = ca.issue(SERVER_ID, { rsaBits: 1024 });
    // The test clock stands still; the pair is valid from the second openssl issued it in, so the clock
    // goes a little past the real now: otherwise a pair issued across a second boundary is refused as
    // not yet valid, never reaching the check this test is about.
    tg.clock.advance(Math.max(0, Date.now() + 2000 - tg.clock.now()));
    secret.update({ 'tls.crt': weak.cert, 'tls.key': weak.key, 'ca.crt': ca.cert });
    for (const listener of ['grpc', 'http']) {
      await waitFor(`the weak pair refused on ${listener}`, () =>
        tg.logs.some((l) => l.listener === listener && l.error === 'the pair cannot serve TLS: ee key too small'),
      );
    }
    expect(tg.logs.some((l) => l.msg === 'listen.httpTls: new certificate refused; the previous one keeps serving')).toBe(true);
    expect(await metric('tollgate_tls_reloads_total{listener="http",result="error"}')).not.toBe(refusedBefore);
    expect(await servedSerial(tg.app.grpcPort)).toBe(grpcSerial);
    expect(await servedSerial(tg.app.httpPort, 'http/1.1')).toBe(httpSerial);
    expect((await tg.client.check(checkRequest())).status?.code ?? 0).toBe(0);
    expect((await httpsGet(tg.app.httpPort, '/readyz', gateway)).status).toBe(200);
    // Back to a good pair: the next rotation is taken again.
    const good = ca.issue(SERVER_ID);
    secret.update({ 'tls.crt': good.cert, 'tls.key': good.key, 'ca.crt': ca.cert });
    await waitFor('the good pair served', async () => (await servedSerial(tg.app.grpcPort)) === good.serial);
  });

  it('refuses a pair that is not valid now, and /readyz fails once the serving certificate has expired', async () => {
    const serving = await servedSerial(tg.app.grpcPort);
    tg.clock.advance(2 * 86_400_000); // past the one-day validity of every leaf
    const late = ca.issue(SERVER_ID);
    secret.update({ 'tls.crt': late.cert, 'tls.key': late.key, 'ca.crt': ca.cert });
    await waitFor('the expired pair refused', () =>
      tg.logs.some((l) => typeof l.error === 'string' && l.error.startsWith('the certificate expired at')),
    );
    expect(await servedSerial(tg.app.grpcPort)).toBe(serving);
    const ready = await httpsGet(tg.app.httpPort, '/readyz', gateway);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body).checks['tls:grpc']).toMatchObject({ ready: false });
    expect(await metric('tollgate_tls_certificate_expiry_timestamp_seconds{listener="grpc"}')).toMatch(/ \d+$/);
  });
});

describe('listen.tls config', () => {
  it('needs clientCaFile for allowedClients and refuses a bad pattern', () => {
    expect(() => parseConfig('listen: { tls: { certFile: a, keyFile: b, allowedClients: ["spiffe://x/*"] } }', '/tmp')).toThrow(
      /listen\.tls\.allowedClients: allowedClients needs clientCaFile/,
    );
    expect(() =>
      parseConfig('listen: { tls: { certFile: a, keyFile: b, clientCaFile: c, allowedClients: ["spiffe://x*"] } }', '/tmp'),
    ).toThrow(/listen\.tls\.allowedClients\[0\]/);
  });

  it('fails startup on a pair Node cannot serve, naming the field (a config error)', async () => {
    const weak = ca.issue(SERVER_ID, { rsaBits: 1024 });
    const bad = new SecretDir({ 'tls.crt': weak.cert, 'tls.key': weak.key });
    try {
      for (const field of ['tls', 'httpTls']) {
        await expect(
          startTollgate(
            {
              listen: {
                grpc: '127.0.0.1:0',
                http: '127.0.0.1:0',
                authz: '127.0.0.1:0',
                [field]: { certFile: bad.path('tls.crt'), keyFile: bad.path('tls.key') },
              },
            },
            {},
            { clockStart: Date.now() },
          ),
        ).rejects.toThrow(`listen.${field}: the pair cannot serve TLS: ee key too small`);
      }
    } finally {
      bad.remove();
    }
  });

  it('fails startup on a pair whose key does not match', async () => {
    const pair = ca.issue(SERVER_ID);
    const bad = new SecretDir({ 'tls.crt': pair.cert, 'tls.key': other.key });
    try {
      await expect(
        startTollgate(
          {
            listen: {
              grpc: '127.0.0.1:0',
              http: '127.0.0.1:0',
              authz: '127.0.0.1:0',
              tls: { certFile: bad.path('tls.crt'), keyFile: bad.path('tls.key') },
            },
          },
          {},
          { clockStart: Date.now() },
        ),
      ).rejects.toThrow('listen.tls: the key does not match the certificate');
    } finally {
      bad.remove();
    }
  });
});

describe('an exact allowedClients entry', () => {
  // With no `/*` entry, an ID that merely starts with an allowed one, or a certificate the CA signed
  // that carries no URI SAN at all, is not a listed client: on both listeners.
  let exact: RunningTollgate;
  let evil: IssuedPair;
  let dnsOnly: IssuedPair;

  beforeAll(async () => {
    evil = ca.issue(`${GATEWAY_ID}-evil`);
    dnsOnly = ca.issue(null);
    const tls = {
      certFile: secret.path('tls.crt'),
      keyFile: secret.path('tls.key'),
      clientCaFile: secret.path('ca.crt'),
      allowedClients: [GATEWAY_ID],
    };
    exact = await startTollgate(
      {
        listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0', tls, httpTls: tls },
        rules: [{ id: 'open', match: { paths: ['/**'] }, require: { anonymous: true } }],
      },
      {},
      { clockStart: Date.now(), clientCredentials: clientCredentials(gateway) },
    );
  });
  afterAll(async () => exact?.close());

  it('admits the listed ID on gRPC and the HTTP ports', async () => {
    expect((await exact.client.check(checkRequest())).status?.code ?? 0).toBe(0);
    expect((await httpsGet(exact.app.httpPort, '/healthz', gateway)).status).toBe(200);
    expect((await httpsGet(exact.app.authzPort, '/envoy/x', gateway)).status).toBe(200);
  });

  it.each([
    ['a longer ID that starts with the listed one', () => evil],
    ['a CA-signed certificate without a URI SAN (DNS only)', () => dnsOnly],
  ])('refuses %s on gRPC and on the HTTP ports', async (_what, pair) => {
    const client = new EnvoyClient(exact.app.grpcPort, clientCredentials(pair()), TLS_CHANNEL_OPTIONS);
    await expect(client.check(checkRequest())).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    client.close();
    await expect(httpsGet(exact.app.httpPort, '/healthz', pair())).rejects.toThrow();
    await expect(httpsGet(exact.app.authzPort, '/envoy/x', pair())).rejects.toThrow();
  });

  it('counts every refusal of a client reconnecting in a loop, and logs at most 20 a second', async () => {
    for (let i = 0; i < 30; i++) {
      const client = new EnvoyClient(exact.app.grpcPort, clientCredentials(evil), TLS_CHANNEL_OPTIONS);
      await expect(client.check(checkRequest())).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      client.close();
    }
    const refused = Number(/ (\d+)$/.exec(await exactMetric('tollgate_tls_clients_refused_total{listener="grpc"}'))?.[1]);
    expect(refused).toBeGreaterThanOrEqual(30);
    const lines = exact.logs.filter((l) => l.msg === 'client certificate not in allowedClients; refused' && l.listener === 'grpc');
    expect(lines.length).toBe(20); // the test clock stands still: one window
  });

  const exactMetric = async (name: string) =>
    (await exact.app.registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith(name))
      .join('\n');
});
