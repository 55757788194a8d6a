// Proves that the hand-written subset in proto/ is wire-compatible with Envoy's official ext_authz
// v3 definitions (vendored by @grpc/grpc-js-xds): same field numbers and types, identical bytes,
// and interchangeable decoding.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
// protobufjs is the engine under @grpc/proto-loader; the test uses its reflection directly.
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTHORIZATION_SERVICE, LOADER_OPTIONS, PROTO_ROOT, loadAuthorizationPackage } from '../src/server/proto.js';
import { fromStruct, toStruct, type CheckRequest, type CheckResponse } from '../src/envoy/types.js';

const ENTRY = 'envoy/service/auth/v3/external_auth.proto';
const DEPS = fileURLToPath(new URL('../node_modules/@grpc/grpc-js-xds/deps/', import.meta.url));
// Everything the official files import, annotations included. google/protobuf/* (descriptor.proto
// too, registered when @grpc/proto-loader is imported) comes bundled with protobufjs.
const OFFICIAL_DIRS = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((dir) => path.join(DEPS, dir));

function loadRoot(includeDirs: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    const found = includeDirs.map((dir) => path.join(dir, target)).find((file) => existsSync(file));
    if (!found) throw new Error(`${target} not found in ${includeDirs.join(', ')}`);
    return found;
  };
  root.loadSync(ENTRY, { keepCase: LOADER_OPTIONS.keepCase });
  root.resolveAll();
  return root;
}

const ours = loadRoot([PROTO_ROOT]);
const official = loadRoot(OFFICIAL_DIRS);
// The serializers the server actually uses.
const check = serviceOf(loadAuthorizationPackage())['Check']!;

function allOf<T extends protobuf.ReflectionObject>(ns: protobuf.NamespaceBase, kind: abstract new (...args: never[]) => T): T[] {
  return ns.nestedArray.flatMap((child) => [
    ...(child instanceof kind ? [child] : []),
    ...(child instanceof protobuf.Namespace ? allOf(child, kind) : []),
  ]);
}

function describeField(field: protobuf.Field) {
  return {
    id: field.id,
    type: field.resolvedType ? field.resolvedType.fullName : field.type,
    repeated: field.repeated,
    keyType: field instanceof protobuf.MapField ? field.keyType : undefined,
    oneof: field.partOf?.name,
  };
}

describe('proto/ is a subset of the official ext_authz v3 protos', () => {
  it('declares every message field with the official number, type, label and oneof', () => {
    const types = allOf(ours, protobuf.Type);
    expect(types.map((t) => t.fullName)).toContain('.envoy.service.auth.v3.CheckResponse');
    for (const type of types) {
      const theirs = official.lookupType(type.fullName);
      for (const field of type.fieldsArray) {
        const theirField = theirs.fields[field.name];
        expect(theirField, `${type.fullName}.${field.name}`).toBeDefined();
        expect(describeField(field), `${type.fullName}.${field.name}`).toEqual(describeField(theirField!));
      }
    }
  });

  it('declares every enum with exactly the official values', () => {
    const enums = allOf(ours, protobuf.Enum);
    expect(enums.map((e) => e.fullName)).toContain('.envoy.type.v3.StatusCode');
    for (const e of enums) {
      expect(e.values, e.fullName).toEqual(official.lookupEnum(e.fullName).values);
    }
  });

  it('declares the Authorization service like the official one', () => {
    const check = (root: protobuf.Root) => {
      const method = root.lookupService(AUTHORIZATION_SERVICE).methods['Check']!;
      return [method.resolvedRequestType?.fullName, method.resolvedResponseType?.fullName];
    };
    expect(check(ours)).toEqual(check(official));
  });
});

// Written in decoded form (int64 as strings, enum names, camelCase Struct members) so each case
// doubles as the expectation of what decoding must yield, catching fields both sides would drop.
const richCheckRequest: CheckRequest = {
  attributes: {
    source: {
      address: { socket_address: { address: '10.0.0.7', port_value: 43512 } },
      service: 'frontend',
      labels: { app: 'frontend', 'topology.kubernetes.io/zone': 'eu-west-1a' },
      principal: 'spiffe://cluster.local/ns/web/sa/frontend',
      certificate: '-----BEGIN%20CERTIFICATE-----%0AMIIB...%0A-----END%20CERTIFICATE-----%0A',
    },
    destination: {
      address: { socket_address: { protocol: 'TCP', address: '10.0.1.9', port_value: 8080 } },
      principal: 'spiffe://cluster.local/ns/api/sa/api',
    },
    request: {
      time: { seconds: '1700000000', nanos: 123456789 },
      http: {
        id: '7f1c2c1e-4a7b-4e0c-9a43-3f1d2b0c9e11',
        method: 'POST',
        headers: {
          ':authority': 'api.example.com',
          ':path': '/v1/orders?limit=10',
          authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig',
          'content-type': 'application/json',
        },
        header_map: {
          headers: [
            { key: 'authorization', raw_value: Buffer.from('Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig') },
            { key: 'x-binary', raw_value: Buffer.from([0xff, 0x00, 0xc3, 0x28]) },
            { key: 'x-binary', raw_value: Buffer.from('second') },
          ],
        },
        path: '/v1/orders?limit=10',
        host: 'api.example.com',
        scheme: 'https',
        query: 'limit=10',
        fragment: 'top',
        size: '-1',
        protocol: 'HTTP/2',
        body: '{"item":1}',
        raw_body: Buffer.from('{"item":1}'),
      },
    },
    context_extensions: { route: 'orders', tenant: 'acme' },
    metadata_context: {
      filter_metadata: { 'envoy.filters.http.jwt_authn': toStruct({ sub: 'alice' }) },
    },
    tls_session: { sni: 'api.example.com' },
  },
};

const dynamicMetadata = {
  sub: 'alice',
  roles: ['reader', 'writer'],
  limits: { rps: 12.5, burst: 20, unlimited: false, plan: null },
};

const okCheckResponse: CheckResponse = {
  status: { code: 0 },
  ok_response: {
    headers: [
      {
        header: { key: 'x-tollgate-subject', value: 'alice' },
        append: { value: false },
        append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
      },
      {
        header: { key: 'x-tollgate-raw', raw_value: Buffer.from([0x01, 0xfe]) },
        append: { value: true },
      },
    ],
    headers_to_remove: ['authorization', 'cookie'],
    response_headers_to_add: [
      {
        header: { key: 'x-tollgate-decision', value: 'allow' },
        append_action: 'ADD_IF_ABSENT',
        keep_empty_value: true,
      },
    ],
    query_parameters_to_set: [{ key: 'tenant', value: 'acme' }],
    query_parameters_to_remove: ['access_token'],
  },
  dynamic_metadata: toStruct(dynamicMetadata),
};

const unauthenticatedCheckResponse: CheckResponse = {
  status: { code: 16, message: 'token expired' },
  denied_response: {
    status: { code: 'Unauthorized' },
    headers: [
      {
        header: {
          key: 'www-authenticate',
          value: 'Bearer realm="tollgate", error="invalid_token", error_description="expired"',
        },
        append: { value: false },
      },
      { header: { key: 'content-type', value: 'application/json' } },
    ],
    body: '{"error":"invalid_token"}',
  },
};

const forbiddenCheckResponse: CheckResponse = {
  status: { code: 7, message: 'denied by policy orders-write' },
  denied_response: { status: { code: 'Forbidden' }, body: 'forbidden' },
};

const REQUEST = 'envoy.service.auth.v3.CheckRequest';
const RESPONSE = 'envoy.service.auth.v3.CheckResponse';
const cases = [
  { name: 'rich CheckRequest', type: REQUEST, value: richCheckRequest },
  { name: 'OK CheckResponse', type: RESPONSE, value: okCheckResponse },
  { name: 'denied 401 CheckResponse', type: RESPONSE, value: unauthenticatedCheckResponse },
  { name: 'denied 403 CheckResponse', type: RESPONSE, value: forbiddenCheckResponse },
];

function encode(root: protobuf.Root, typeName: string, value: object): Buffer {
  const type = root.lookupType(typeName);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

function decode(root: protobuf.Root, typeName: string, bytes: Uint8Array) {
  const type = root.lookupType(typeName);
  return type.toObject(type.decode(bytes), LOADER_OPTIONS);
}

for (const { name, type, value } of cases)
  describe(name, () => {
    const officialBytes = encode(official, type, value);

    it('encodes to the same bytes as the official definitions', () => {
      expect(officialBytes.length).toBeGreaterThan(0);
      expect(encode(ours, type, value).equals(officialBytes)).toBe(true);
    });

    it('encodes to the same bytes through loadAuthorizationPackage()', () => {
      const serialize = type === REQUEST ? check.requestSerialize : check.responseSerialize;
      expect(serialize(value).equals(officialBytes)).toBe(true);
    });

    it('decodes the same with either definition, whichever encoded it', () => {
      const oursBytes = encode(ours, type, value);
      const decodedByOurs = decode(ours, type, officialBytes);
      expect(decodedByOurs).toMatchObject(value);
      expect(decodedByOurs).toEqual(decode(official, type, officialBytes));
      expect(decode(official, type, oursBytes)).toEqual(decode(ours, type, oursBytes));
    });
  });

describe('proto-loader conventions the server relies on', () => {
  const { responseSerialize, responseDeserialize } = check;
  const roundTrip = (response: CheckResponse) => responseDeserialize(responseSerialize(response)) as CheckResponse;

  it('round-trips dynamic metadata through toStruct/fromStruct', () => {
    const decoded = roundTrip({ dynamic_metadata: toStruct(dynamicMetadata) });
    expect(decoded.dynamic_metadata?.fields?.['sub']).toEqual({
      stringValue: 'alice',
      kind: 'stringValue',
    });
    expect(fromStruct(decoded.dynamic_metadata)).toEqual(dynamicMetadata);
  });

  it('converts to Struct like JSON.stringify', () => {
    const input = { at: new Date(0), skip: undefined, list: [undefined, Infinity, 1], n: NaN };
    expect(fromStruct(toStruct(input))).toEqual(JSON.parse(JSON.stringify(input)));
    expect(() => toStruct({ big: 1n })).toThrow(TypeError);
  });

  it('silently drops snake_case Struct members: Struct keeps protobufjs camelCase names', () => {
    const snake = { fields: { sub: { string_value: 'alice' } } };
    const decoded = roundTrip({ dynamic_metadata: snake } as CheckResponse);
    expect(decoded.dynamic_metadata?.fields?.['sub']).toEqual({});
  });

  it('needs BoolValue as a wrapper object and keeps an explicit false', () => {
    const header = { header: { key: 'x', value: 'y' } };
    const decoded = roundTrip({
      ok_response: { headers: [{ ...header, append: { value: false } }, header] },
    });
    expect(decoded.ok_response?.headers?.map((h) => h.append)).toEqual([{ value: false }, null]);
    expect(() => responseSerialize({ ok_response: { headers: [{ ...header, append: false }] } })).toThrow(TypeError);
  });
});

describe('Check over a loopback gRPC connection', () => {
  const server = new grpc.Server();
  const seen: CheckRequest[] = [];
  let client: grpc.Client;

  beforeAll(async () => {
    const handler: grpc.handleUnaryCall<CheckRequest, CheckResponse> = (call, callback) => {
      seen.push(call.request);
      callback(null, {
        status: { code: 0 },
        ok_response: {
          headers: [{ header: { key: 'x-tollgate-subject', value: 'alice' }, append: { value: false } }],
        },
      });
    };
    server.addService(serviceOf(loadAuthorizationPackage()), { Check: handler });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    server.forceShutdown();
  });

  it('serves a client built from the official definitions', async () => {
    const officialPackage = loadSync(ENTRY, { ...LOADER_OPTIONS, includeDirs: OFFICIAL_DIRS });
    const method = serviceOf(officialPackage)['Check']!;
    const request: CheckRequest = {
      attributes: {
        request: {
          http: {
            method: 'GET',
            path: '/v1/orders',
            header_map: {
              headers: [{ key: 'x-binary', raw_value: Buffer.from([0xff, 0x00, 0x7f]) }],
            },
          },
        },
      },
    };

    const response = await new Promise<CheckResponse>((resolve, reject) =>
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, (err, value) =>
        err ? reject(err) : resolve(value as CheckResponse),
      ),
    );

    expect(seen).toHaveLength(1);
    const http = seen[0]?.attributes?.request?.http;
    expect(http?.method).toBe('GET');
    expect(http?.path).toBe('/v1/orders');
    expect(http?.header_map?.headers).toEqual([{ key: 'x-binary', value: '', raw_value: Buffer.from([0xff, 0x00, 0x7f]) }]);
    expect(response.status?.code).toBe(0);
    expect(response.http_response).toBe('ok_response');
    expect(response.ok_response?.headers).toEqual([
      {
        header: { key: 'x-tollgate-subject', value: 'alice', raw_value: Buffer.alloc(0) },
        append: { value: false },
        append_action: 'APPEND_IF_EXISTS_OR_ADD',
        keep_empty_value: false,
      },
    ]);
  });
});

function serviceOf(pkg: PackageDefinition): grpc.ServiceDefinition {
  const service = pkg[AUTHORIZATION_SERVICE];
  if (!service || !('Check' in service)) throw new Error(`${AUTHORIZATION_SERVICE} not loaded`);
  return service;
}
