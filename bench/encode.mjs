// Encodes Envoy CheckRequests as gRPC frames, decodes CheckResponses. Uses protobufjs on the repo's
// proto/ directory, so the bench sends exactly what Envoy would put on the wire.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** The name TLS clients check the server certificate against (bench/mint.mjs's server certificate carries it). */
export const TLS_SERVER_NAME = 'localhost';

const PROTO_ROOT = fileURLToPath(new URL('../proto/', import.meta.url));
const ENTRY = 'envoy/service/auth/v3/external_auth.proto';

let cached;
function types() {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    const file = path.join(PROTO_ROOT, target);
    if (!existsSync(file)) throw new Error(`bench/encode: ${target} not found under ${PROTO_ROOT}`);
    return file;
  };
  root.loadSync(ENTRY, { keepCase: true });
  root.resolveAll();
  cached = {
    request: root.lookupType('envoy.service.auth.v3.CheckRequest'),
    response: root.lookupType('envoy.service.auth.v3.CheckResponse'),
  };
  return cached;
}

/** gRPC length-prefixed message: 1 byte compressed-flag (0) + 4-byte big-endian length + bytes. */
export function grpcFrame(bytes) {
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(bytes.length, 1);
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).copy(frame, 5);
  return frame;
}

/**
 * A CheckRequest shaped like Envoy's: the `headers` map with lower-case names (pseudo-headers
 * included), method/path/host/scheme/protocol set, source and destination socket addresses.
 */
export function checkRequestBytes({
  token,
  method = 'GET',
  path: reqPath = '/api/orders/42',
  host = 'api.bench.invalid',
  requestId = 'bench-0001',
  extraHeaders = {},
}) {
  const { request } = types();
  const headers = {
    ':authority': host,
    ':method': method,
    ':path': reqPath,
    ':scheme': 'https',
    accept: 'application/json',
    'user-agent': 'tollgate-bench/1.0',
    'x-request-id': requestId,
    'x-forwarded-proto': 'https',
    ...extraHeaders,
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const socket = (address, port) => ({ socket_address: { address, port_value: port } });
  const message = request.fromObject({
    attributes: {
      source: { address: socket('10.0.0.7', 51234) },
      destination: { address: socket('10.0.0.9', 8080) },
      request: {
        http: { id: requestId, method, headers, path: reqPath, host, scheme: 'https', protocol: 'HTTP/1.1' },
      },
    },
  });
  const problem = request.verify(message);
  if (problem) throw new Error(`bench/encode: invalid CheckRequest: ${problem}`);
  return request.encode(message).finish();
}

export function checkRequestFrame(options) {
  return grpcFrame(checkRequestBytes(options));
}

/** Decodes the body of a gRPC response (one frame) into { code, httpStatus, okHeaders, okHeaderValues }. */
export function decodeCheckResponse(body) {
  if (body.length < 5) throw new Error(`bench/encode: short gRPC body (${body.length} bytes)`);
  const length = body.readUInt32BE(1);
  const decoded = types().response.decode(body.subarray(5, 5 + length));
  const obj = types().response.toObject(decoded, { defaults: true, enums: String });
  return {
    code: obj.status?.code ?? 0,
    httpStatus: obj.denied_response?.status?.code,
    okHeaders: (obj.ok_response?.headers ?? []).map((h) => h.header?.key),
    okHeaderValues: Object.fromEntries((obj.ok_response?.headers ?? []).map((h) => [h.header?.key, h.header?.value])),
  };
}

/** Splits a file of concatenated gRPC frames (each carries its own length) back into frames. */
export function splitFrames(buffer) {
  const frames = [];
  for (let offset = 0; offset < buffer.length;) {
    const end = offset + 5 + buffer.readUInt32BE(offset + 1);
    frames.push(buffer.subarray(offset, end));
    offset = end;
  }
  return frames;
}
