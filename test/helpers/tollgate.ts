import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { createLogger } from '../../src/observability/logger.js';
import { Tollgate } from '../../src/server/app.js';
import { ManualClock } from '../../src/util/clock.js';
import { EnvoyClient } from './envoy-client.js';
import { startJwksServer } from './http-server.js';
import { jwks, testKey, type TestKey } from './keys.js';
import { TLS_CHANNEL_OPTIONS } from './pki.js';

export interface RunningTollgate {
  app: Tollgate;
  client: EnvoyClient;
  clock: ManualClock;
  dir: string;
  /** Every log line the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Raw log text, to assert that no secret ever appears in it. */
  logText: () => string;
  writeFile(name: string, content: string | object): string;
  close(): Promise<void>;
}

/**
 * Starts tollgate in this process on free loopback ports with the given config (YAML-serialised into
 * a temp dir, so relative paths in it resolve there), and a Check client on Envoy's official protos.
 */
export interface StartOptions {
  /**
   * Where the test clock starts (ms since the epoch); default now. The clock then stands still unless a
   * test advances it. Real parts keep real time (Redis expires a revocation at its `expiresAt` by its own
   * clock; certificates have validity periods), so a fixed date here would turn into a time bomb once
   * real time passes what the test wrote at that date.
   */
  clockStart?: number;
  tlsPollMs?: number;
  /** Credentials of the Check client (default plaintext). */
  clientCredentials?: grpc.ChannelCredentials;
}

export async function startTollgate(
  config: Record<string, unknown>,
  files: Record<string, string | object> = {},
  options: StartOptions = {},
): Promise<RunningTollgate> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const writeFile = (name: string, content: string | object) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  for (const [name, content] of Object.entries(files)) writeFile(name, content);
  const configPath = writeFile(
    'tollgate.yaml',
    stringify({
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0' },
      shutdown: { notServingSeconds: 0, drainSeconds: 5 },
      ...config,
    }),
  );

  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const clock = new ManualClock(options.clockStart ?? Date.now());
  const app = await Tollgate.start({
    configPath,
    clock,
    logger: createLogger('debug', sink),
    watchConfig: false,
    tlsPollMs: options.tlsPollMs,
  });
  const client = new EnvoyClient(app.grpcPort, options.clientCredentials, options.clientCredentials ? TLS_CHANNEL_OPTIONS : {});
  return {
    app,
    client,
    clock,
    dir,
    get logs() {
      return chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => chunks.join(''),
    writeFile,
    close: async () => {
      client.close();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The provider most integration tests configure: `idp`, ES256 keys fetched from `jwksUri`; spread it and add the rest. */
export function es256Provider(issuer: string, audience: string, jwksUri: string) {
  return { name: 'idp', issuer, audiences: [audience], algorithms: ['ES256'], jwks: { uri: jwksUri } };
}

/**
 * tollgate whose providers trust one fresh ES256 key, served by a real JWKS server at `jwksUri`;
 * close() stops both.
 */
export async function startTollgateWithKey(
  config: (jwksUri: string) => Record<string, unknown>,
): Promise<RunningTollgate & { key: TestKey }> {
  const key = await testKey('ES256');
  const jwksServer = await startJwksServer(jwks(key));
  const tg = await startTollgate(config(`${jwksServer.url}/jwks.json`));
  return {
    ...tg,
    get logs() {
      return tg.logs;
    },
    key,
    close: async () => {
      await tg.close();
      await jwksServer.close();
    },
  };
}

export { nowSeconds } from './time.js';
