import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, deniedBody } from '../helpers/envoy-client.js';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

/** One length-delimited protobuf field (wire type 2): what every message and string field is on the wire. */
function field(number: number, content: Buffer | string): Buffer {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  return Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes]);
}

function varint(value: number): Buffer {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return Buffer.from(out);
}

/** google.protobuf.Value holding a Struct holding a Value... `depth` levels down to a string. */
function nestedValue(depth: number): Buffer {
  let value = field(3, 'bottom'); // Value.string_value
  for (let i = 0; i < depth; i++) value = field(5, field(1, Buffer.concat([field(1, 'a'), field(2, value)]))); // Value.struct_value → Struct.fields entry
  return value;
}

/** `GET /x` whose CheckRequest.attributes.metadata_context.filter_metadata["f"] is a Struct `depth` levels deep. */
function deepMetadataRequest(depth: number): Buffer {
  const struct = field(1, Buffer.concat([field(1, 'a'), field(2, nestedValue(depth))]));
  const metadata = field(1, Buffer.concat([field(1, 'f'), field(2, struct)]));
  const http = field(4, field(2, Buffer.concat([field(2, 'GET'), field(4, '/x'), field(5, 'api.example.com')]))); // request.http
  return field(1, Buffer.concat([http, field(11, metadata)]));
}

describe('Check messages tollgate cannot decode', () => {
  let tg: RunningTollgate;
  beforeAll(async () => {
    tg = await startTollgate(
      {
        providers: [
          {
            name: 'legacy',
            issuer: 'https://legacy.example.com',
            audiences: ['api'],
            algorithms: ['HS256'],
            hmacSecret: { file: 'hmac-secret' },
          },
        ],
        rules: [{ id: 'open', match: { paths: ['/**'] }, require: { anonymous: true } }],
      },
      { 'hmac-secret': 'a-shared-secret-of-at-least-32-bytes!!\n' },
    );
  });
  afterAll(async () => tg?.close());

  const malformed = async (bytes: Buffer) => {
    const response = await tg.client.checkBytes(bytes);
    expect(response.status?.code).toBe(7);
    expect(deniedBody(response)).toEqual({ error: 'forbidden', reason: 'malformed_request' });
  };

  it('answers bytes that are not protobuf with a denial, not an RPC error', async () => {
    await malformed(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await malformed(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  });

  it('answers a truncated message with a denial', async () => {
    await malformed(field(1, field(4, field(2, 'x'.repeat(50)))).subarray(0, 20));
  });

  it('answers a Struct nested 100 deep in metadata_context with a denial, and a shallow one normally', async () => {
    await malformed(deepMetadataRequest(100));
    const shallow = await tg.client.checkBytes(deepMetadataRequest(3));
    expect(shallow.status?.code).toBe(0);
  });

  it('still answers well-formed requests', async () => {
    expect((await tg.client.check(checkRequest())).status?.code).toBe(0);
  });

  it('logs the denial with its reason', () => {
    expect(tg.logs.some((line) => line.reason === 'malformed_request' && line.decision === 'deny')).toBe(true);
  });
});
