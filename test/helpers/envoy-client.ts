import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { CheckRequest, CheckResponse } from '../../src/envoy/types.js';
import { LOADER_OPTIONS } from '../../src/server/proto.js';

const require = createRequire(import.meta.url);
const XDS_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/**
 * A Check client built from Envoy's OFFICIAL protos (shipped by @grpc/grpc-js-xds), not tollgate's
 * subset: what the tests send and read is what Envoy itself would.
 */
export class EnvoyClient {
  private readonly client: grpc.Client & { Check: grpc.requestCallback<CheckResponse> };
  private readonly decodeResponse: (bytes: Buffer) => CheckResponse;

  constructor(
    port: number,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    channelOptions: grpc.ChannelOptions = {},
  ) {
    const pkg = loadSync('envoy/service/auth/v3/external_auth.proto', {
      ...LOADER_OPTIONS,
      includeDirs: ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(XDS_DEPS, d)),
    });
    const service = pkg['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition;
    this.decodeResponse = service.Check!.responseDeserialize as (bytes: Buffer) => CheckResponse;
    const Authorization = grpc.makeGenericClientConstructor(service, 'Authorization');
    this.client = new Authorization(`127.0.0.1:${port}`, credentials, channelOptions) as unknown as EnvoyClient['client'];
  }

  check(request: CheckRequest): Promise<CheckResponse> {
    return new Promise((resolve, reject) => {
      (
        this.client as unknown as { Check(req: CheckRequest, cb: (err: grpc.ServiceError | null, res?: CheckResponse) => void): void }
      ).Check(request, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }

  /** Sends `message` as the Check request's bytes, whatever they are, and decodes the answer. */
  checkBytes(message: Buffer): Promise<CheckResponse> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        CHECK_PATH,
        (bytes: Buffer) => bytes,
        this.decodeResponse,
        message,
        (err, res) => (err ? reject(err) : resolve(res!)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export interface HttpRequestSpec {
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  /** Sent as header_map entries with raw_value bytes, the way Envoy does with encode_raw_headers. */
  rawHeaders?: Array<[string, string]>;
  principal?: string;
  certificate?: string;
  /** `attributes.context_extensions`, as an Envoy listener's ExtAuthzPerRoute sets them. */
  contextExtensions?: Record<string, string>;
}

/** A CheckRequest as Envoy builds one for an HTTP request. */
export function checkRequest(spec: HttpRequestSpec = {}): CheckRequest {
  const method = spec.method ?? 'GET';
  const path = spec.path ?? '/api/things';
  const host = spec.host ?? 'api.example.com';
  const http: NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']> = {
    id: '12345',
    method,
    path,
    host,
    scheme: 'https',
    protocol: 'HTTP/1.1',
  };
  if (spec.rawHeaders) {
    http.header_map = {
      headers: [[':method', method], [':path', path], [':authority', host], ...spec.rawHeaders].map(([key, value]) => ({
        key,
        raw_value: Buffer.from(value!, 'latin1'),
      })),
    };
  } else {
    http.headers = { ':method': method, ':path': path, ':authority': host, 'x-request-id': 'req-1', ...spec.headers };
  }
  return {
    attributes: {
      source: {
        address: { socket_address: { address: '10.0.0.1', port_value: 40000 } },
        principal: spec.principal ?? '',
        certificate: spec.certificate ?? '',
      },
      destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } },
      request: { time: { seconds: Math.floor(Date.now() / 1000) }, http },
      ...(spec.contextExtensions ? { context_extensions: spec.contextExtensions } : {}),
    },
  };
}

/** Header name → value from an OK response's `headers`. */
export function injectedHeaders(response: CheckResponse): Record<string, string> {
  return Object.fromEntries((response.ok_response?.headers ?? []).map((h) => [h.header?.key ?? '', h.header?.value ?? '']));
}

/** The denied response's JSON body. */
export function deniedBody(response: CheckResponse): Record<string, unknown> {
  return JSON.parse(response.denied_response?.body ?? 'null') as Record<string, unknown>;
}

export function deniedHeader(response: CheckResponse, name: string): string | undefined {
  return response.denied_response?.headers?.find((h) => h.header?.key?.toLowerCase() === name)?.header?.value;
}

/** A grpc.health.v1.Health client, as Envoy's gRPC health checker uses it: one channel, many checks. */
export class HealthClient {
  private readonly client: grpc.Client & {
    Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  };

  constructor(port: number) {
    const pkg = loadSync(healthProtoPath, { keepCase: true, enums: String });
    const Health = grpc.makeGenericClientConstructor(pkg['grpc.health.v1.Health'] as grpc.ServiceDefinition, 'Health');
    this.client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthClient['client'];
  }

  status(service: string): Promise<string> {
    return new Promise((resolve, reject) => this.client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))));
  }

  close(): void {
    this.client.close();
  }
}

/** One health check on a fresh channel. */
export async function healthStatus(port: number, service: string): Promise<string> {
  const client = new HealthClient(port);
  try {
    return await client.status(service);
  } finally {
    client.close();
  }
}
