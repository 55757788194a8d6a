import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthStatus } from '../helpers/envoy-client.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

/** Debian's interpreter, where python3-protobuf installs. */
const PYTHON = process.env.TOLLGATE_TEST_PYTHON ?? '/usr/bin/python3';
const POOL_SCRIPT = fileURLToPath(new URL('../interop/reflection_pool.py', import.meta.url));
const ISSUER = 'https://idp.example.com';

const require = createRequire(import.meta.url);
const REFLECTION_PROTOS = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection');

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
}

/** What `grpcurl list` and `grpcurl describe` ask: requests on one reflection stream, answered in order. */
function reflect(port: number, ...requests: Array<Record<string, string>>): Promise<ReflectionResponse[]> {
  return reflectWith('v1', port, ...requests);
}

/** `reflect` on one version of the reflection service (v1alpha: what older clients ask). */
async function reflectWith(
  version: 'v1' | 'v1alpha',
  port: number,
  ...requests: Array<Record<string, string>>
): Promise<ReflectionResponse[]> {
  const pkg = loadSync(join(REFLECTION_PROTOS, version, 'reflection.proto'), { keepCase: true });
  const Reflection = grpc.makeGenericClientConstructor(
    pkg[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition,
    'ServerReflection',
  );
  const client = new Reflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
    ServerReflectionInfo(): grpc.ClientDuplexStream<Record<string, string>, ReflectionResponse>;
    close(): void;
  };
  const responses: ReflectionResponse[] = [];
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on('data', (response: ReflectionResponse) => {
      responses.push(response);
      if (responses.length < requests.length) return;
      resolve(responses);
      call.end();
      client.close();
    });
    call.on('error', reject);
    requests.forEach((request) => call.write(request));
  });
}

/**
 * grpcurl's walk: the file declaring the symbol, then by name every dependency not yet served, until
 * the set is closed. Only `name` and `dependency` are read here; linking is left to Python.
 */
async function filesForSymbol(port: number, symbol: string): Promise<Buffer[]> {
  const files = new Map<string, Buffer>();
  const wanted = new Set<string>();
  const take = (response: ReflectionResponse) => {
    for (const bytes of response.file_descriptor_response?.file_descriptor_proto ?? []) {
      const file = descriptor.FileDescriptorProto.decode(bytes) as descriptor.IFileDescriptorProto;
      files.set(file.name!, bytes);
      for (const dependency of (file.dependency as string[] | undefined) ?? []) wanted.add(dependency);
    }
  };
  (await reflect(port, { file_containing_symbol: symbol })).forEach(take);
  for (let missing = [...wanted].filter((f) => !files.has(f)); missing.length > 0; missing = [...wanted].filter((f) => !files.has(f))) {
    (await reflect(port, ...missing.map((name) => ({ file_by_filename: name })))).forEach(take);
  }
  return [...files.values()];
}

/** A CheckResponse as Python's json_format writes it (proto3 JSON names). */
interface DecodedResponse {
  status?: { code?: number; message?: string };
  okResponse?: { headers?: unknown[] };
  deniedResponse?: { status?: { code?: string } };
  dynamicMetadata?: Record<string, unknown>;
}

/** Python's protobuf builds a pool from the served files alone and encodes or decodes with it. */
function withPythonPool(job: { files: Buffer[]; service?: string; request?: unknown; response?: Buffer }): Record<string, unknown> {
  const input = JSON.stringify({
    files: job.files.map((f) => f.toString('base64')),
    ...(job.service ? { service: job.service } : {}),
    ...(job.request ? { request: job.request } : {}),
    ...(job.response ? { response: job.response.toString('base64') } : {}),
  });
  return JSON.parse(execFileSync(PYTHON, [POOL_SCRIPT], { input, encoding: 'utf8' })) as Record<string, unknown>;
}

/** A Check whose bytes are built and read elsewhere: the client knows only the method's path. */
function rawCheck(port: number, request: Buffer): Promise<Buffer> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const identity = (bytes: Buffer) => bytes;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', identity, identity, request, (err, response) => {
      client.close();
      if (err) reject(err);
      else resolve(response!);
    }),
  );
}

describe('gRPC services beside Check', () => {
  let tg: RunningTollgate;
  let key: TestKey;
  beforeAll(async () => {
    key = await testKey('ES256');
    tg = await startTollgate(
      {
        providers: [
          {
            name: 'idp',
            issuer: ISSUER,
            audiences: ['api'],
            algorithms: ['ES256'],
            jwks: { file: 'jwks.json' },
            claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }],
          },
        ],
        rules: [
          { id: 'open', match: { paths: ['/public/**'] }, require: { anonymous: true } },
          { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
        ],
      },
      { 'jwks.json': jwks(key) },
    );
  });
  afterAll(async () => tg?.close());

  it('lists Authorization, Health and reflection through server reflection (what grpcurl list shows), on v1 and v1alpha', async () => {
    // The first reflection calls of this server, both at once: reflection is built on demand, once.
    const answers = await Promise.all([
      reflectWith('v1', tg.app.grpcPort, { list_services: '' }),
      reflectWith('v1alpha', tg.app.grpcPort, { list_services: '' }),
    ]);
    for (const [response] of answers) {
      const names = response!.list_services_response?.service.map((s) => s.name).sort();
      expect(names).toEqual(['envoy.service.auth.v3.Authorization', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']);
    }
  });

  it('serves linkable descriptors: a pool built from them alone encodes a Check and decodes its answer (what grpcurl does)', async () => {
    const files = await filesForSymbol(tg.app.grpcPort, 'envoy.service.auth.v3.Authorization');
    const token = await mint(ISSUER, 'api', { key, now: nowSeconds(tg.clock) });
    const encoded = withPythonPool({
      files,
      request: {
        attributes: {
          request: {
            http: {
              method: 'GET',
              path: '/courses/1',
              host: 'api.local',
              headers: { authorization: `Bearer ${token}`, 'x-user-id': 'forged' },
            },
          },
          // A google.protobuf.Struct inside a map inside Metadata: links across three files.
          metadataContext: { filterMetadata: { 'envoy.filters.http.jwt_authn': { verified: false } } },
        },
      },
    });
    expect(encoded).toMatchObject({
      service: 'envoy.service.auth.v3.Authorization',
      input: 'envoy.service.auth.v3.CheckRequest',
      output: 'envoy.service.auth.v3.CheckResponse',
    });

    const answer = await rawCheck(tg.app.grpcPort, Buffer.from(encoded.request as string, 'base64'));
    const decoded = withPythonPool({ files, response: answer }).response as DecodedResponse;
    expect(decoded.status ?? {}).toEqual({});
    expect(decoded.okResponse?.headers).toEqual([
      { header: { key: 'x-user-id', value: 'user-123' }, append: false, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    ]);
    expect(decoded.dynamicMetadata).toMatchObject({ rule: 'api', provider: 'idp', sub: 'user-123' });
  });

  it('a denial read through the reflected pool carries status 16 and the HTTP 401', async () => {
    const files = await filesForSymbol(tg.app.grpcPort, 'envoy.service.auth.v3.Authorization');
    const encoded = withPythonPool({ files, request: { attributes: { request: { http: { method: 'GET', path: '/courses/1' } } } } });
    const answer = await rawCheck(tg.app.grpcPort, Buffer.from(encoded.request as string, 'base64'));
    const decoded = withPythonPool({ files, response: answer }).response as DecodedResponse;
    expect(decoded.status).toEqual({ code: 16, message: 'missing_token' });
    expect(decoded.deniedResponse?.status).toEqual({ code: 'Unauthorized' });
  });

  it('serves linkable descriptors for the health and reflection services too', async () => {
    for (const [service, method, input] of [
      ['grpc.health.v1.Health', 'Check', 'grpc.health.v1.HealthCheckRequest'],
      ['grpc.reflection.v1.ServerReflection', 'ServerReflectionInfo', 'grpc.reflection.v1.ServerReflectionRequest'],
    ] as const) {
      const files = await filesForSymbol(tg.app.grpcPort, service);
      const described = withPythonPool({ files, service }) as { methods: Record<string, string[]> };
      expect(described.methods[method]?.[0]).toBe(input);
    }
  });

  it('answers grpc.health.v1 for "" and for the Authorization service', async () => {
    expect(await healthStatus(tg.app.grpcPort, '')).toBe('SERVING');
    expect(await healthStatus(tg.app.grpcPort, 'envoy.service.auth.v3.Authorization')).toBe('SERVING');
  });
});
