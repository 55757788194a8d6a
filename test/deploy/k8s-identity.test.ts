/**
 * The service identity the manifests set up, run for real: the tollgate.yaml the gateway and sidecar
 * overlays render, started with their Secrets laid out as the kubelet mounts them (each Secret a
 * directory of `..data` symlinks, the files cert-manager and `tollgate keys rotate` write, with a
 * test CA issuing the SPIFFE IDs of k8s/cert-manager's Certificates). What it shows over real sockets:
 * the probes the pods declare pass without a client certificate, the kubelet's gRPC probe could not,
 * the gRPC port admits only the edge Envoy's ID, the gateway mints for the sidecar, and the sidecar
 * (the built CLI with NODE_EXTRA_CA_CERTS, as in its pod) verifies through the gateway's HTTPS JWKS.
 *
 * Left out, and covered elsewhere: Redis (the gateway's store is swapped for `memory`; test/revocation)
 * and the IdP's discovery (the idp provider reads a local key set instead).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { INTERNAL_TOKEN_TYP } from '../../src/internal-tokens/index.js';
import { rotateKeys } from '../../src/internal-tokens/rotate.js';
import { checkRequest, deniedBody, EnvoyClient, healthStatus, injectedHeaders } from '../helpers/envoy-client.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { SecretDir, TestCa, TLS_CHANNEL_OPTIONS, type IssuedPair } from '../helpers/pki.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';
import { find, render, type K8sObject } from './kustomize.js';
import { waitForServing } from '../helpers/cli-process.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');

type Config = Record<string, unknown> & {
  listen: Record<string, unknown> & { tls?: { allowedClients?: string[] } };
  providers: Array<Record<string, unknown> & { name: string; issuer: string; audiences: string[]; jwks?: { uri?: string } }>;
};

interface Certificate extends K8sObject {
  spec: { secretName: string; uris?: string[] };
}

let ca: TestCa;
let idpKey: TestKey;
let edgeEnvoy: IssuedPair;
let appEnvoy: IssuedPair;
let gateway: RunningTollgate;
let gatewayConfig: Config;
let sidecar: ChildProcess;
let sidecarPorts: { grpcPort: number; httpPort: number };
const cleanups: Array<() => void> = [];

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-k8s-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

function tollgatePod(objects: K8sObject[], name: string): { container: IContainer; deployment: IDeployment } {
  const deployment = find(objects, 'Deployment', name) as unknown as IDeployment;
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'tollgate');
  if (!container) throw new Error(`no tollgate container in ${name}`);
  return { container, deployment };
}

function renderedConfig(objects: K8sObject[]): Config {
  return parse((find(objects, 'ConfigMap', 'tollgate-config') as unknown as IConfigMap).data?.['tollgate.yaml'] ?? '') as Config;
}

/**
 * What the kubelet would mount into the tollgate container: mount path → a local directory, for each
 * Secret given (laid out as a Secret volume, `items` honoured) and each emptyDir.
 */
function kubeletMounts(pod: { container: IContainer; deployment: IDeployment }, secrets: Record<string, Record<string, string>>) {
  const mounts = new Map<string, string>();
  const volumes = pod.deployment.spec?.template.spec?.volumes ?? [];
  for (const mount of pod.container.volumeMounts ?? []) {
    const volume = volumes.find((v) => v.name === mount.name);
    const secretName = volume?.secret?.secretName;
    if (secretName && secrets[secretName]) {
      const all = secrets[secretName];
      const items = volume.secret?.items;
      const files = items ? Object.fromEntries(items.map((i) => [i.path, all[i.key]!])) : all;
      const dir = new SecretDir(files);
      cleanups.push(() => dir.remove());
      mounts.set(mount.mountPath, dir.dir);
    } else if (volume?.emptyDir) {
      mounts.set(mount.mountPath, tempDir());
    }
  }
  return mounts;
}

/** Every string value under a mount path, moved to where that mount is here. */
function remap<T>(value: T, mounts: Map<string, string>): T {
  if (typeof value === 'string') {
    for (const [at, dir] of mounts) if (value === at || value.startsWith(`${at}/`)) return (dir + value.slice(at.length)) as T;
    return value;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => remap(v, mounts)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, remap(v, mounts)])) as T;
  return value;
}

/** No file path of the config is left pointing into the container's filesystem. */
function expectAllMapped(config: unknown): void {
  expect(JSON.stringify(config)).not.toMatch(/"\/(etc|var)\//);
}

/** An HTTPS GET as the kubelet's probe makes it: no client certificate, the server's not verified. */
function probe(port: number, path: string, scheme: string | undefined): Promise<number> {
  expect(scheme).toBe('HTTPS');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTPS GET that verifies the server against the test CA, as a sidecar does. */
function verifiedGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', servername: 'localhost', port, path, ca: ca.cert, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

const mtls = (pair?: IssuedPair) =>
  grpc.credentials.createSsl(Buffer.from(ca.cert), pair ? Buffer.from(pair.key) : null, pair ? Buffer.from(pair.cert) : null);

async function expectProbesPass(container: IContainer, httpPort: number): Promise<void> {
  const probes = [container.startupProbe, container.livenessProbe, container.readinessProbe];
  for (const p of probes) expect(await probe(httpPort, p?.httpGet?.path ?? '', p?.httpGet?.scheme), p?.httpGet?.path).toBe(200);
}

beforeAll(async () => {
  const gatewayObjects = render('k8s/overlays/gateway');
  const sidecarObjects = render('k8s/overlays/sidecar');
  const certificates = render('k8s/cert-manager').filter((o): o is Certificate => o.kind === 'Certificate');
  ca = new TestCa();
  cleanups.push(() => ca.remove());
  /** The Secret cert-manager writes for a Certificate, its SPIFFE ID issued by the test CA. */
  const issued = new Map<string, IssuedPair>();
  const certSecret = (secretName: string) => {
    const certificate = certificates.find((c) => c.spec.secretName === secretName);
    const pair = ca.issue(certificate?.spec.uris?.[0] ?? '', { days: 30 });
    issued.set(secretName, pair);
    return { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': ca.cert };
  };
  const admin = { token: randomBytes(32).toString('hex') };

  // The gateway: the Secret tollgate-signing-keys as `tollgate keys rotate --dir` makes it.
  const keysDir = tempDir();
  gatewayConfig = renderedConfig(gatewayObjects);
  const minting = gatewayConfig.internalTokens as { publishAheadSeconds: number; ttlSeconds: number };
  await rotateKeys(keysDir, {
    algorithm: 'ES256',
    publishAheadSeconds: minting.publishAheadSeconds,
    ttlSeconds: minting.ttlSeconds,
    nowSeconds: Math.floor(Date.now() / 1000),
  });
  const signingKeys = Object.fromEntries(readdirSync(keysDir).map((f) => [f, readFileSync(join(keysDir, f), 'utf8')]));
  const gatewayPod = tollgatePod(gatewayObjects, 'tollgate');
  const gatewayMounts = kubeletMounts(gatewayPod, {
    'tollgate-tls': certSecret('tollgate-tls'),
    'tollgate-signing-keys': signingKeys,
    'tollgate-admin': admin,
  });
  idpKey = await testKey('ES256');
  const idpJwks = join(tempDir(), 'jwks.json');
  writeFileSync(idpJwks, JSON.stringify(jwks(idpKey)));
  const runnable = remap(
    {
      ...gatewayConfig,
      listen: { ...gatewayConfig.listen, grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0' },
      admin: gatewayConfig.admin && { ...gatewayConfig.admin, listen: '127.0.0.1:0' },
      providers: gatewayConfig.providers.map((p) => ({ ...p, jwks: { file: idpJwks } })),
      revocation: { store: 'memory' },
      // The test closes it at once; the shipped drain timings are the pod's.
      shutdown: { notServingSeconds: 0, drainSeconds: 5 },
    },
    gatewayMounts,
  );
  expectAllMapped(runnable);
  edgeEnvoy = ca.issue(certificates.find((c) => c.spec.secretName === 'edge-gateway-tls')?.spec.uris?.[0] ?? '');
  gateway = await startTollgate(runnable, {}, { clockStart: Date.now(), clientCredentials: mtls(edgeEnvoy) });

  // The sidecar: the built CLI, with the env and mounts its pod gives it, the JWKS reached at the
  // gateway's HTTP port (in the cluster: the Service tollgate-jwks, checked in k8s-manifests.test.ts).
  const sidecarPod = tollgatePod(sidecarObjects, 'example-app');
  const sidecarMounts = kubeletMounts(sidecarPod, { 'example-app-tls': certSecret('example-app-tls'), 'tollgate-admin': admin });
  appEnvoy = issued.get('example-app-tls')!;
  const sidecarConfig = renderedConfig(sidecarObjects);
  const jwksPath = new URL(sidecarConfig.providers[0]?.jwks?.uri ?? '').pathname;
  const sidecarRunnable = remap(
    {
      ...sidecarConfig,
      // Free ports for what the overlay opens; the sidecar opens no HTTP authorization port (authz: off).
      listen: { ...sidecarConfig.listen, grpc: '127.0.0.1:0', http: '127.0.0.1:0' },
      admin: sidecarConfig.admin && { ...sidecarConfig.admin, listen: '127.0.0.1:0' },
      providers: sidecarConfig.providers.map((p) => ({ ...p, jwks: { uri: `https://localhost:${gateway.app.httpPort}${jwksPath}` } })),
      shutdown: { notServingSeconds: 0, drainSeconds: 5 },
    },
    sidecarMounts,
  );
  expectAllMapped(sidecarRunnable);
  const configPath = join(tempDir(), 'tollgate.yaml');
  writeFileSync(configPath, stringify(sidecarRunnable));
  const env = Object.fromEntries((sidecarPod.container.env ?? []).map((e) => [e.name, remap(e.value ?? '', sidecarMounts)]));
  expect(env.NODE_EXTRA_CA_CERTS).toMatch(/ca\.crt$/);
  sidecar = spawn(process.execPath, [CLI, 'serve', '--config', configPath], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  sidecarPorts = await waitForServing(sidecar);
}, 60_000);

afterAll(async () => {
  sidecar?.kill('SIGTERM');
  await gateway?.close();
  for (const cleanup of cleanups.reverse()) cleanup();
});

describe('the gateway overlay, run', () => {
  it("passes the pod's own probes (HTTPS, no client certificate); the kubelet's gRPC probe could not connect", async () => {
    await expectProbesPass(tollgatePod(render('k8s/overlays/gateway'), 'tollgate').container, gateway.app.httpPort);
    await expect(healthStatus(gateway.app.grpcPort, '')).rejects.toThrow();
  });

  it("admits only the edge Envoy's SPIFFE ID on gRPC, and mints for the service with the Envoy as actor", async () => {
    const edgeId = gatewayConfig.listen.tls?.allowedClients?.[0];
    expect(edgeId).toMatch(/^spiffe:\/\//);
    const externalToken = await mint(gatewayConfig.providers[0]!.issuer, gatewayConfig.providers[0]!.audiences, {
      key: idpKey,
      claims: { sub: 'alice', roles: ['reader'] },
    });
    const request = checkRequest({ path: '/anything', headers: { authorization: `Bearer ${externalToken}` } });

    // Another workload of the same CA (the app's certificate), and no certificate at all: no decision.
    for (const credentials of [mtls(appEnvoy), mtls()]) {
      const client = new EnvoyClient(gateway.app.grpcPort, credentials, TLS_CHANNEL_OPTIONS);
      await expect(client.check(request)).rejects.toThrow();
      client.close();
    }

    const response = await gateway.client.check(request);
    expect(response.status?.code).toBe(0);
    const internal = /^Bearer (.+)$/.exec(injectedHeaders(response).authorization ?? '')?.[1] ?? '';
    const claims = decodeJwt(internal);
    expect(claims).toMatchObject({ sub: 'alice', aud: 'example-app', roles: ['reader'], act: { sub: edgeId } });
    // bindToCaller: bound to the certificate the edge Envoy presented on Check.
    const edgeThumbprint = createHash('sha256').update(new X509Certificate(edgeEnvoy.cert).raw).digest('base64url');
    expect(claims.cnf).toEqual({ 'x5t#S256': edgeThumbprint });

    // The JWKS on the HTTP port, fetched as a verifier does (the CA checked), verifies it.
    const keySet = JSON.parse(await verifiedGet(gateway.app.httpPort, '/.well-known/jwks.json')) as JSONWebKeySet;
    const verified = await jwtVerify(internal, createLocalJWKSet(keySet), { typ: INTERNAL_TOKEN_TYP, audience: 'example-app' });
    expect(verified.payload.iss).toBe((gatewayConfig.internalTokens as { issuer: string }).issuer);
  });
});

describe('the sidecar overlay, run', () => {
  it("passes the pod's own probes (HTTPS, no client certificate)", async () => {
    await expectProbesPass(tollgatePod(render('k8s/overlays/sidecar'), 'example-app').container, sidecarPorts.httpPort);
  });

  it("accepts the gateway's internal token, verified through the gateway's HTTPS JWKS, and nothing else", async () => {
    const client = new EnvoyClient(sidecarPorts.grpcPort);
    try {
      const externalToken = await mint(gatewayConfig.providers[0]!.issuer, gatewayConfig.providers[0]!.audiences, {
        key: idpKey,
        claims: { sub: 'alice' },
      });
      const minted = await gateway.client.check(checkRequest({ path: '/anything', headers: { authorization: `Bearer ${externalToken}` } }));
      const internal = injectedHeaders(minted).authorization ?? '';
      expect(internal).toMatch(/^Bearer /);

      // The sidecar fetched the key set at start, before it served: over HTTPS, trusting the CA only
      // through NODE_EXTRA_CA_CERTS, as in its pod. Its Envoy forwards the edge Envoy's certificate
      // (include_peer_certificate), the one the token is bound to.
      const fromEdge = { principal: gatewayConfig.listen.tls?.allowedClients?.[0], certificate: encodeURIComponent(edgeEnvoy.cert) };
      const response = await client.check(checkRequest({ path: '/anything', headers: { authorization: internal }, ...fromEdge }));
      expect(response.status?.code).toBe(0);
      expect(injectedHeaders(response)['x-user-id']).toBe('alice');
      // The same token over any other connection: no client certificate, or another workload's.
      for (const certificate of [undefined, encodeURIComponent(appEnvoy.cert)]) {
        const replayed = await client.check(checkRequest({ path: '/anything', headers: { authorization: internal }, certificate }));
        expect(deniedBody(replayed).reason).toBe('certificate_mismatch');
      }

      // The IdP's own token is not for services (pattern 4), and no token is no entry.
      const external = await client.check(checkRequest({ path: '/anything', headers: { authorization: `Bearer ${externalToken}` } }));
      expect(external.status?.code).not.toBe(0);
      expect((await client.check(checkRequest({ path: '/anything' }))).status?.code).not.toBe(0);
    } finally {
      client.close();
    }
  });
});
