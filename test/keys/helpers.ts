import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { Registry } from 'prom-client';
import { createLogger, silentLogger } from '../../src/observability/logger.js';
import type { Deps } from '../../src/observability/deps.js';
import { ManualClock } from '../../src/util/clock.js';
import { createKeyManager, jwksConfigSchema, type KeyManager } from '../../src/keys/index.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server on 127.0.0.1 whose behaviour a test swaps by assigning `handler`. */
export interface TestServer {
  readonly origin: string;
  /** Requests received, per path. */
  readonly hits: Map<string, number>;
  handler: Handler;
  /** Resolves on the next request (the event a test may await instead of sleeping). */
  nextRequest(): Promise<void>;
  /** Stop listening and drop connections, as in an outage. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
}

export function count(server: TestServer, path = '/jwks'): number {
  return server.hits.get(path) ?? 0;
}

export async function startServer(handler: Handler = (_req, res) => res.writeHead(404).end()): Promise<TestServer> {
  const waiters: (() => void)[] = [];
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    api.handler(req, res);
    waiters.splice(0).forEach((resolve) => resolve());
  });
  await listen(server, 0);
  const { port } = server.address() as AddressInfo;
  servers.push(server);
  const api: TestServer = {
    origin: `http://127.0.0.1:${port}`,
    hits,
    handler,
    nextRequest: () => new Promise((resolve) => waiters.push(resolve)),
    down: () => shut(server),
    up: () => listen(server, port),
  };
  return api;
}

const servers: Server[] = [];

/** Close every server started by this test file (afterEach/afterAll). */
export async function closeServers(): Promise<void> {
  await Promise.all(servers.splice(0).map(shut));
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function shut(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export function json(body: unknown, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}

export interface TestKey {
  kid: string;
  jwk: JWK;
  privateKey: CryptoKey;
}

export async function makeKey(alg: 'RS256' | 'ES256' | 'ES384' | 'EdDSA', kid: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' } };
}

export function jwks(...keys: (TestKey | JWK)[]): { keys: JWK[] } {
  return { keys: keys.map((k) => ('privateKey' in k ? k.jwk : k)) };
}

export interface Harness {
  manager: KeyManager;
  clock: ManualClock;
  registry: Registry;
  logs: Record<string, unknown>[];
}

const managers: KeyManager[] = [];

/** A manager with a manual clock, its own registry and captured logs. `jwks` goes through the schema (defaults). */
export function harness(
  jwksSection: Record<string, unknown>,
  provider: { name?: string; issuer?: string; algorithms?: string[] } = {},
  shared: Partial<Deps> = {},
): Harness {
  const logs: Record<string, unknown>[] = [];
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const registry = new Registry();
  const deps: Deps = {
    logger: createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
    registry,
    clock,
    ...shared,
  };
  const manager = createKeyManager(
    {
      name: provider.name ?? 'idp',
      issuer: provider.issuer ?? 'https://idp.example.com',
      algorithms: provider.algorithms ?? ['RS256', 'ES256', 'EdDSA'],
      jwks: jwksConfigSchema.parse(jwksSection),
    },
    deps,
  );
  managers.push(manager);
  return { manager, clock, registry, logs };
}

export function stopManagers(): void {
  managers.splice(0).forEach((m) => m.stop());
}

export const quietDeps = (): Deps => ({ logger: silentLogger(), registry: new Registry(), clock: new ManualClock() });

/** The KeyError code a promise rejects with (fails the test if it resolves). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: string }).code ?? `not a KeyError: ${String(err)}`;
  }
  throw new Error('expected a rejection');
}
