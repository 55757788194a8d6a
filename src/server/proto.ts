import { fileURLToPath } from 'node:url';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';

/** The shipped proto/ directory: two levels up from both src/server/ and dist/server/. */
export const PROTO_ROOT = fileURLToPath(new URL('../../proto', import.meta.url));

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';

/**
 * How messages are mapped to plain objects (the shapes in src/envoy/types.ts):
 * - keepCase: field names stay as in Envoy's protos and docs (header_map, raw_value,
 *   headers_to_remove). The well-known types (Struct, Value, Timestamp, wrappers) are the
 *   exception: protobufjs bundles them with camelCase names, e.g. Value.stringValue.
 * - longs: String: int64 fields (HttpRequest.size, Timestamp.seconds) arrive as decimal strings
 *   instead of Long objects, and without precision loss.
 * - enums: String: enum fields arrive as value names ('Unauthorized', 'ADD_IF_ABSENT').
 * - defaults: true: absent scalars, repeated fields and maps arrive as '', 0, [], {} so handlers
 *   need no fallbacks; absent message fields arrive as null.
 * - oneofs: true: adds a property naming the set oneof member (http_response, Value.kind).
 */
export const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const satisfies Options;

/** Loads the Authorization service and its messages from PROTO_ROOT. */
export function loadAuthorizationPackage(): PackageDefinition {
  return loadSync('envoy/service/auth/v3/external_auth.proto', {
    ...LOADER_OPTIONS,
    includeDirs: [PROTO_ROOT],
  });
}
