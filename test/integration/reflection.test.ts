import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthStatus } from '../helpers/envoy-client.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const require = createRequire(import.meta.url);
const REFLECTION_PROTO = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
}

/** What `grpcurl list` and `grpcurl describe` ask: one request on the reflection stream. */
function reflect(port: number, request: Record<string, string>): Promise<ReflectionResponse> {
  const pkg = loadSync(REFLECTION_PROTO, { keepCase: true });
  const Reflection = grpc.makeGenericClientConstructor(pkg['grpc.reflection.v1.ServerReflection'] as grpc.ServiceDefinition, 'ServerReflection');
  const client = new Reflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
    ServerReflectionInfo(): grpc.ClientDuplexStream<Record<string, string>, ReflectionResponse>;
    close(): void;
  };
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on('data', (response: ReflectionResponse) => {
      resolve(response);
      call.end();
      client.close();
    });
    call.on('error', reject);
    call.write(request);
  });
}

describe('gRPC services beside Check', () => {
  let tg: RunningTollgate;
  beforeAll(async () => {
    tg = await startTollgate({ rules: [{ id: 'open', match: { paths: ['/**'] }, require: { anonymous: true } }] });
  });
  afterAll(async () => tg?.close());

  it('lists Authorization, Health and reflection through server reflection (what grpcurl list shows)', async () => {
    const response = await reflect(tg.app.grpcPort, { list_services: '' });
    const names = response.list_services_response?.service.map((s) => s.name).sort();
    expect(names).toEqual(['envoy.service.auth.v3.Authorization', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']);
  });

  it('describes the Check request type, so grpcurl needs no proto files', async () => {
    const response = await reflect(tg.app.grpcPort, { file_containing_symbol: 'envoy.service.auth.v3.Authorization' });
    const files = response.file_descriptor_response?.file_descriptor_proto ?? [];
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).toString('latin1')).toContain('CheckRequest');
  });

  it('answers grpc.health.v1 for "" and for the Authorization service', async () => {
    expect(await healthStatus(tg.app.grpcPort, '')).toBe('SERVING');
    expect(await healthStatus(tg.app.grpcPort, 'envoy.service.auth.v3.Authorization')).toBe('SERVING');
  });
});
