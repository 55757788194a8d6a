import type { CheckResponse } from '../envoy/types.js';

/** The Check service's own protobuf encoder for a CheckResponse. */
export type SerializeResponse = (response: CheckResponse) => Buffer;

/**
 * An answer the Check handler returns to grpc-js with some or all of its bytes already encoded; the
 * service's serializer (src/server/check-codec.ts) calls `encode`, which must write the same bytes
 * protobufjs writes for `toObject()`.
 */
export abstract class PreparedResponse {
  abstract toObject(): CheckResponse;
  abstract encode(serialize: SerializeResponse): Buffer;
}
