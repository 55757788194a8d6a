import type * as grpc from '@grpc/grpc-js';
import type { CheckRequest, CheckResponse } from '../envoy/types.js';
import { PreparedResponse, type SerializeResponse } from './prepared-response.js';

/**
 * A Check message that could not be decoded (not protobuf, truncated, nested beyond protobufjs's
 * recursion limit of 100). grpc-js would answer it with INTERNAL, an RPC error that
 * `failure_mode_allow: true` lets through; tollgate decodes inside its own deserializer instead and
 * hands the handler this, which it denies with a CheckResponse like any other bad request.
 */
export class UndecodableRequest {
  constructor(readonly cause: string) {}
}

export type IncomingCheck = CheckRequest | UndecodableRequest;
/** What the Check handler answers: a response object, or one whose bytes were prepared (allows and denials). */
export type OutgoingCheck = CheckResponse | PreparedResponse;

/**
 * The Authorization service definition with a Check deserializer that never throws, and a serializer
 * that writes prepared answers from their bytes. Messages larger
 * than the server's receive limit are still refused by grpc-js (RESOURCE_EXHAUSTED) from their 5-byte
 * length prefix alone, before any byte is buffered: the only way to answer them with a CheckResponse
 * would be to buffer messages of any size.
 */
export function withTolerantCheckDecoding(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const check = service.Check;
  if (!check) throw new Error('the Authorization service has no Check method');
  const decode = check.requestDeserialize;
  const requestDeserialize = (bytes: Buffer): IncomingCheck => {
    try {
      return decode(bytes) as CheckRequest;
    } catch (err) {
      return new UndecodableRequest(err instanceof Error ? err.message : String(err));
    }
  };
  const serialize = check.responseSerialize as SerializeResponse;
  const responseSerialize = (response: OutgoingCheck): Buffer =>
    response instanceof PreparedResponse ? response.encode(serialize) : serialize(response);
  return { ...service, Check: { ...check, requestDeserialize, responseSerialize } };
}
