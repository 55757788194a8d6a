/**
 * Pattern 4 end to end over real sockets: a gateway tollgate verifies the external token and mints an
 * internal one; a sidecar tollgate verifies it through the gateway's served JWKS and requires the
 * gateway in the act chain; the sidecar's egress exchange nests the act for the next service. PyJWT
 * verifies the minted tokens independently.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { InternalTokens } from '../../src/internal-tokens/index.js';
import { rotateKeys } from '../../src/internal-tokens/rotate.js';
import { createLogger } from '../../src/observability/logger.js';
import { checkRequest, deniedBody, injectedHeaders, type HttpRequestSpec } from '../helpers/envoy-client.js';
import { listenerContextExtensions } from '../helpers/envoy-wiring.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { TestCa, type IssuedPair } from '../helpers/pki.js';
import { waitFor } from '../helpers/time.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const GATEWAY = 'spiffe://test.local/ns/edge/sa/gateway';
const ORDERS = 'spiffe://test.local/ns/shop/sa/orders';
const IDP = 'https://idp.example';
const GATEWAY_ISSUER = 'https://gateway.tollgate.test';
const ORDERS_ISSUER = 'https://orders.tollgate.test';
const TYP = 'tollgate-internal+jwt';
/** The test clocks run a minute ahead of the machine's, so certificates openssl issues during setup are already valid. */
const START = Math.floor(Date.now() / 1000) * 1000 + 60_000;
const PYTHON = process.env.TOLLGATE_TEST_PYTHON ?? '/usr/bin/python3';
const VERIFY = fileURLToPath(new URL('../interop/pyjwt_verify.py', import.meta.url));

let ca: TestCa;
let idpKey: TestKey;
let gatewayEnvoy: IssuedPair;
let ordersEnvoy: IssuedPair;
let gatewayKeys: string;
let ordersKeys: string;
let gateway: RunningTollgate;
let ordersIngress: RunningTollgate;
let ordersEgress: RunningTollgate;
let payments: RunningTollgate;

const mtls = (pair: IssuedPair) => grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(pair.key), Buffer.from(pair.cert));

function serverTls(id: string, allowedClients: string[]) {
  const pair = ca.issue(id, { days: 30 });
  return { certFile: pair.cert, keyFile: pair.key, allowedClients };
}

/** The sidecar side: internal tokens of `issuer`, fetched from a tollgate's HTTP port. */
function internalProvider(name: string, issuer: string, httpPort: number, audience: string) {
  return {
    name,
    issuer,
    audiences: [audience],
    algorithms: ['ES256'],
    typ: TYP,
    jwks: { uri: `http://127.0.0.1:${httpPort}/.well-known/jwks.json` },
    claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }],
  };
}

/** Starts a tollgate whose gRPC listener is mTLS with certificates from the test CA. */
function startWithTls(id: string, allowedClients: string[], config: Record<string, unknown>, client: IssuedPair): Promise<RunningTollgate> {
  const tls = serverTls(id, allowedClients);
  return startTollgate(
    {
      ...config,
      listen: {
        grpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        authz: '127.0.0.1:0',
        tls: { certFile: 'tls.crt', keyFile: 'tls.key', clientCaFile: 'ca.crt', allowedClients },
      },
    },
    { 'tls.crt': tls.certFile, 'tls.key': tls.keyFile, 'ca.crt': ca.cert },
    { clockStart: START, tlsPollMs: 50, clientCredentials: mtls(client) },
  );
}

/** The orders sidecar's token maker, on its real keys directory, outside any server. */
function ordersMinter() {
  const deps = { logger: createLogger('silent'), registry: new Registry(), clock: ordersEgress.clock };
  const tokens = new InternalTokens(
    {
      issuer: ORDERS_ISSUER,
      keysDir: ordersKeys,
      algorithm: 'ES256',
      ttlSeconds: 120,
      header: 'authorization',
      claims: [],
      publishAheadSeconds: 300,
      maxChainDepth: 4,
      bindToCaller: false,
    },
    deps,
  ).start();
  tokens.stop(); // keys loaded; no need to follow the directory
  return tokens;
}

/** The orders Envoy as the caller of a Check: its SPIFFE ID and its certificate's DER. */
const ordersCaller = () => ({ id: ORDERS, certificate: new X509Certificate(ordersEnvoy.cert).raw });

const nowS = () => Math.floor(gateway.clock.now() / 1000);

/**
 * The orders pod's Checks as examples/envoy/sidecar-mtls.yaml builds them: both listeners ask the one
 * sidecar tollgate; inbound carries the calling workload's certificate and `direction: inbound`, egress
 * (the app's own call on loopback) `direction: egress`.
 */
const inbound = (spec: HttpRequestSpec) =>
  checkRequest({ principal: GATEWAY, ...spec, contextExtensions: listenerContextExtensions('sidecar-mtls.yaml', 'inbound') });
const egress = (spec: HttpRequestSpec) =>
  checkRequest({ ...spec, contextExtensions: listenerContextExtensions('sidecar-mtls.yaml', 'egress') });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const tokenOf = (header: string | undefined) => header?.replace(/^Bearer /, '') ?? '';

async function externalToken(sub = 'alice', extra: Record<string, unknown> = {}): Promise<string> {
  return mint(IDP, 'api', { key: idpKey, now: nowS(), claims: { sub, roles: ['buyer'], tenant: 't1', ...extra } });
}

/** The gateway's answer for a request to the orders service: the minted token (or the denial). */
async function throughGateway(sub = 'alice') {
  const response = await gateway.client.check(
    checkRequest({ host: 'orders.shop.svc', path: '/orders/42', headers: bearer(await externalToken(sub)) }),
  );
  return { response, token: tokenOf(injectedHeaders(response).authorization) };
}

function advanceAll(ms: number): void {
  for (const tg of [gateway, ordersIngress, ordersEgress, payments]) tg.clock.advance(ms);
}

beforeAll(async () => {
  ca = new TestCa();
  idpKey = await testKey('ES256');
  gatewayEnvoy = ca.issue(GATEWAY, { days: 30 });
  ordersEnvoy = ca.issue(ORDERS, { days: 30 });
  gatewayKeys = mkdtempSync(join(tmpdir(), 'tollgate-gw-keys-'));
  ordersKeys = mkdtempSync(join(tmpdir(), 'tollgate-orders-keys-'));
  await rotateKeys(gatewayKeys, { algorithm: 'ES256', publishAheadSeconds: 60, ttlSeconds: 120, nowSeconds: START / 1000 - 3600 });
  await rotateKeys(ordersKeys, { algorithm: 'ES256', publishAheadSeconds: 60, ttlSeconds: 120, nowSeconds: START / 1000 - 3600 });

  gateway = await startWithTls(
    'spiffe://test.local/ns/edge/sa/tollgate',
    ['spiffe://test.local/ns/edge/*'],
    {
      providers: [{ name: 'idp', issuer: IDP, audiences: ['api'], algorithms: ['ES256'], jwks: { file: 'idp.json' } }],
      internalTokens: { issuer: GATEWAY_ISSUER, keysDir: gatewayKeys, claims: ['roles', 'tenant'], publishAheadSeconds: 60 },
      viewAs: { allow: { teacher: ['student'] } },
      rules: [
        {
          id: 'course',
          match: { hosts: ['orders.shop.svc'], paths: ['/courses/{courseId}/**'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher', 'student'] } },
          internalToken: { audience: '{host}' },
        },
        {
          id: 'orders',
          match: { hosts: ['orders.shop.svc'], paths: ['/orders/{orderId}'] },
          require: { authenticated: true },
          internalToken: { audience: '{host}' },
        },
      ],
    },
    gatewayEnvoy,
  );
  gateway.writeFile('idp.json', jwks(idpKey));
  await gateway.app.reload();

  ordersIngress = await startTollgate(
    {
      providers: [internalProvider('gateway', GATEWAY_ISSUER, gateway.app.httpPort, 'orders.shop.svc')],
      rules: [
        {
          id: 'edit',
          match: { paths: ['/courses/{courseId}/edit'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'] }, actor: { principals: [GATEWAY] } },
        },
        { id: 'in', match: { paths: ['/**'] }, require: { actor: { principals: [GATEWAY] } } },
      ],
    },
    {},
    { clockStart: START },
  );
  ordersEgress = await startWithTls(
    'spiffe://test.local/ns/shop/sa/orders-tollgate',
    [ORDERS],
    {
      providers: [internalProvider('gateway', GATEWAY_ISSUER, gateway.app.httpPort, 'orders.shop.svc')],
      internalTokens: { issuer: ORDERS_ISSUER, keysDir: ordersKeys, claims: ['roles', 'tenant'] },
      // One tollgate for the pod's inbound and egress listeners, as in sidecar-mtls.yaml. The exchange
      // rule comes first: only `direction`, never rule order or Host, keeps inbound requests from it.
      rules: [
        {
          id: 'egress',
          match: { direction: 'egress', hosts: ['payments.shop.svc'] },
          require: { actor: { principals: [GATEWAY] } },
          internalToken: { audience: '{host}', exchange: true },
        },
        {
          id: 'in-admin',
          match: { direction: 'inbound', paths: ['/admin/**'] },
          require: { roles: { anyOf: ['admin'] }, actor: { principals: [GATEWAY] } },
        },
        { id: 'in', match: { direction: 'inbound', paths: ['/**'] }, require: { actor: { principals: [GATEWAY] } } },
      ],
    },
    ordersEnvoy,
  );
  payments = await startTollgate(
    {
      providers: [internalProvider('orders', ORDERS_ISSUER, ordersEgress.app.httpPort, 'payments.shop.svc')],
      rules: [
        { id: 'shallow', match: { paths: ['/shallow'] }, require: { actor: { principals: [GATEWAY], maxChainDepth: 1 } } },
        { id: 'pay', match: { paths: ['/**'] }, require: { actor: { principals: [GATEWAY] } } },
      ],
    },
    {},
    { clockStart: START },
  );
});

afterAll(async () => {
  for (const tg of [gateway, ordersIngress, ordersEgress, payments]) await tg?.close();
  ca?.remove();
  for (const dir of [gatewayKeys, ordersKeys]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('gateway mints, sidecar verifies through the served JWKS', () => {
  it('replaces the external token with a minted one carrying sub, one aud, copied claims and act', async () => {
    const { response, token } = await throughGateway();
    expect(response.status?.code ?? 0).toBe(0);
    expect(response.ok_response?.headers_to_remove).not.toContain('authorization'); // overwritten, never both
    expect(injectedHeaders(response).authorization).toMatch(/^Bearer /);
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: 'ES256', typ: TYP });
    expect(typeof header.kid).toBe('string');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: GATEWAY_ISSUER,
      sub: 'alice',
      aud: 'orders.shop.svc',
      roles: ['buyer'],
      tenant: 't1',
      act: { sub: GATEWAY },
    });
    expect(claims.exp! - claims.iat!).toBe(120);
    expect(claims.nbf).toBe(claims.iat);
    expect(typeof claims.jti).toBe('string');

    const atSidecar = await ordersIngress.client.check(
      checkRequest({ host: 'orders.shop.svc', path: '/orders/42', headers: bearer(token) }),
    );
    expect(atSidecar.status?.code ?? 0).toBe(0);
    expect(injectedHeaders(atSidecar)['x-user-id']).toBe('alice');
  });

  it('a view-as downgrade reaches the minted token: the sidecar decides on the viewed-as role (issue 36, reproduction 3)', async () => {
    const token = await externalToken('tess', { roles: { course: { teacher: ['42'], ta: ['7'] } } });
    const viaGateway = async (viewAs: Record<string, string>) => {
      const response = await gateway.client.check(
        checkRequest({ host: 'orders.shop.svc', path: '/courses/42/edit', headers: { ...bearer(token), ...viewAs } }),
      );
      expect(response.status?.code ?? 0).toBe(0);
      return tokenOf(injectedHeaders(response).authorization);
    };
    const asStudent = await viaGateway({ 'x-tollgate-view-as': 'student' });
    expect(decodeJwt(asStudent).roles).toEqual({ course: { student: ['42'] } });
    const atSidecar = await ordersIngress.client.check(
      checkRequest({ host: 'orders.shop.svc', path: '/courses/42/edit', headers: bearer(asStudent) }),
    );
    expect(deniedBody(atSidecar)).toMatchObject({ reason: 'context_role_mismatch', rule: 'edit' });

    const asTeacher = await viaGateway({});
    expect(decodeJwt(asTeacher).roles).toEqual({ course: { teacher: ['42'], ta: ['7'] } });
    const allowed = await ordersIngress.client.check(
      checkRequest({ host: 'orders.shop.svc', path: '/courses/42/edit', headers: bearer(asTeacher) }),
    );
    expect(allowed.status?.code ?? 0).toBe(0);
  });

  it('the sidecar refuses the external token', async () => {
    const external = await ordersIngress.client.check(checkRequest({ headers: bearer(await externalToken()) }));
    expect(external.status?.code).toBe(16);
  });

  it('reuses a minted token from the cache and serves a discovery document', async () => {
    const first = (await throughGateway('bob')).token;
    const second = (await throughGateway('bob')).token;
    expect(second).toBe(first);
    const metrics = await gateway.app.registry.metrics();
    expect(metrics).toMatch(/tollgate_internal_token_cache_hits_total \d+/);
    const discovery = (await (await fetch(`http://127.0.0.1:${gateway.app.httpPort}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery).toMatchObject({ issuer: GATEWAY_ISSUER, jwks_uri: `${GATEWAY_ISSUER}/.well-known/jwks.json` });
    const jwksResponse = await fetch(`http://127.0.0.1:${gateway.app.httpPort}/.well-known/jwks.json`);
    expect(jwksResponse.headers.get('cache-control')).toBe('public, max-age=30');
    const served = (await jwksResponse.json()) as { keys: Array<Record<string, unknown>> };
    expect(served.keys.length).toBeGreaterThan(0);
    for (const key of served.keys) expect(key).not.toHaveProperty('d');
  });

  it('minted tokens verify with PyJWT through the served JWKS', async () => {
    const tokens = [(await throughGateway('carol')).token, (await throughGateway('dave')).token];
    // Asynchronously: PyJWT fetches the JWKS from the gateway, which serves from this process.
    const output = await new Promise<string>((resolve, reject) => {
      const child = execFile(PYTHON, [VERIFY], (err: Error | null, stdout: string) => (err ? reject(err) : resolve(stdout)));
      child.stdin!.end(
        JSON.stringify({
          jwks_uri: `http://127.0.0.1:${gateway.app.httpPort}/.well-known/jwks.json`,
          issuer: GATEWAY_ISSUER,
          now: nowS(),
          tokens: tokens.map((token) => ({ token, audience: 'orders.shop.svc' })),
        }),
      );
    });
    const results = JSON.parse(output) as Array<{ header?: Record<string, unknown>; claims?: Record<string, unknown>; error?: string }>;
    expect(results.map((r) => r.error)).toEqual([undefined, undefined]);
    expect(results[0]!.header).toMatchObject({ typ: TYP, alg: 'ES256' });
    expect(results.map((r) => r.claims?.sub)).toEqual(['carol', 'dave']);
    expect(results[0]!.claims?.act).toEqual({ sub: GATEWAY });
  });
});

describe('egress exchange', () => {
  it('mints for the next service with the act chain nested: alice via orders via the gateway', async () => {
    const { token: forOrders } = await throughGateway('alice');
    const exchanged = await ordersEgress.client.check(egress({ host: 'payments.shop.svc', path: '/charge', headers: bearer(forOrders) }));
    expect(exchanged.status?.code ?? 0).toBe(0);
    const forPayments = tokenOf(injectedHeaders(exchanged).authorization);
    expect(decodeJwt(forPayments)).toMatchObject({
      iss: ORDERS_ISSUER,
      sub: 'alice',
      aud: 'payments.shop.svc',
      roles: ['buyer'],
      act: { sub: ORDERS, act: { sub: GATEWAY } },
    });

    const atPayments = await payments.client.check(
      checkRequest({ host: 'payments.shop.svc', path: '/charge', headers: bearer(forPayments) }),
    );
    expect(atPayments.status?.code ?? 0).toBe(0);
    // A chain longer than the rule's bound is refused, whatever it contains.
    const shallow = await payments.client.check(
      checkRequest({ host: 'payments.shop.svc', path: '/shallow', headers: bearer(forPayments) }),
    );
    expect(deniedBody(shallow)).toMatchObject({ reason: 'actor_chain_too_long' });
    // The gateway's token is not for payments: wrong audience and issuer.
    const replayed = await payments.client.check(checkRequest({ host: 'payments.shop.svc', path: '/charge', headers: bearer(forOrders) }));
    expect(replayed.status?.code).toBe(16);
  });

  it('an inbound request never selects the exchange rule, whatever Host it sends (issue 36, reproduction 1)', async () => {
    const { token } = await throughGateway('alice');
    for (const host of ['example-app', 'payments.shop.svc']) {
      const response = await ordersEgress.client.check(inbound({ method: 'POST', host, path: '/admin/delete', headers: bearer(token) }));
      expect(deniedBody(response), host).toEqual({ error: 'forbidden', reason: 'missing_role', rule: 'in-admin' });
    }
    // Allowed inbound by the inbound rule, and nothing minted for payments on the way.
    const read = await ordersEgress.client.check(inbound({ host: 'payments.shop.svc', path: '/orders/42', headers: bearer(token) }));
    expect(read.status?.code ?? 0).toBe(0);
    expect(injectedHeaders(read).authorization).toBeUndefined();
    // A Check without the listener's direction (a caller that is not the shipped wiring) matches neither.
    const bare = await ordersEgress.client.check(checkRequest({ host: 'payments.shop.svc', path: '/charge', headers: bearer(token) }));
    expect(deniedBody(bare)).toMatchObject({ reason: 'no_matching_rule' });
  });

  it('refuses a validly signed token without the gateway in its act chain', async () => {
    // Signed with the orders keys, which payments trusts, but naming only orders as actor.
    const minted = ordersMinter().issue(
      { audience: 'payments.shop.svc', exchange: false },
      { sub: 'alice', exp: nowS() + 60 },
      ordersCaller(),
    );
    if (!minted.ok) throw new Error(minted.detail);
    const token = tokenOf(minted.value);
    const response = await payments.client.check(checkRequest({ host: 'payments.shop.svc', path: '/charge', headers: bearer(token) }));
    expect(deniedBody(response)).toMatchObject({ reason: 'actor_not_allowed' });
  });

  it('refuses to exchange a token whose chain would exceed maxChainDepth (4)', () => {
    let act: Record<string, unknown> = { sub: GATEWAY };
    for (let i = 0; i < 3; i++) act = { sub: `spiffe://test.local/ns/x/sa/hop${i}`, act };
    const minter = ordersMinter();
    // Four actors already: one more hop would make five.
    expect(
      minter.issue({ audience: 'payments.shop.svc', exchange: true }, { sub: 'alice', exp: nowS() + 60, act }, ordersCaller()),
    ).toMatchObject({
      ok: false,
      denial: 'actor_chain_too_long',
    });
    // Three actors: the exchange makes four, the bound.
    expect(
      minter.issue({ audience: 'payments.shop.svc', exchange: true }, { sub: 'alice', exp: nowS() + 60, act: act.act }, ordersCaller()),
    ).toMatchObject({ ok: true });
  });
});

describe('key rotation drill', () => {
  it('publishes a new key ahead, signs with it after publishAheadSeconds, drops the old one; zero failed checks downstream', async () => {
    const failures: unknown[] = [];
    let n = 0;
    const roundTrip = async () => {
      const { response, token } = await throughGateway(`user-${n++ % 3}`);
      if ((response.status?.code ?? 0) !== 0) failures.push(response.status);
      const atSidecar = await ordersIngress.client.check(
        checkRequest({ host: 'orders.shop.svc', path: '/orders/1', headers: bearer(token) }),
      );
      if ((atSidecar.status?.code ?? 0) !== 0) failures.push(deniedBody(atSidecar));
      return decodeProtectedHeader(token).kid;
    };
    const servedKids = async () =>
      (
        (await (await fetch(`http://127.0.0.1:${gateway.app.httpPort}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }
      ).keys.map((k) => k.kid);
    const [oldKid] = await servedKids();
    expect(await roundTrip()).toBe(oldKid);

    const { added } = await rotateKeys(gatewayKeys, { algorithm: 'ES256', publishAheadSeconds: 60, ttlSeconds: 120, nowSeconds: nowS() });
    await waitFor('the new key published', async () => (await servedKids()).includes(added));
    for (let i = 0; i < 5; i++) expect(await roundTrip()).toBe(oldKid); // published, not yet signing

    advanceAll(61_000);
    for (let i = 0; i < 5; i++) expect(await roundTrip()).toBe(added); // cached tokens of the old key are not reused

    rmSync(join(gatewayKeys, `${oldKid}.json`));
    await waitFor('the old key withdrawn', async () => !(await servedKids()).includes(oldKid!));
    for (let i = 0; i < 5; i++) expect(await roundTrip()).toBe(added);
    expect(failures).toEqual([]);
    expect(readdirSync(gatewayKeys)).toEqual([`${added}.json`]);
  });
});
