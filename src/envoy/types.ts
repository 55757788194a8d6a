// Plain-object shapes of the ext_authz v3 messages as @grpc/proto-loader hands them over with
// LOADER_OPTIONS (src/server/proto.ts): snake_case field names (keepCase), int64 as decimal
// strings, enums as value names, oneof members plus a virtual property naming the set member.
//
// One interface serves both directions:
// - decoded (requests from Envoy): `defaults: true` fills scalars, repeated fields and maps, but
//   unset message fields come back as `null`, and unset oneof members are absent;
// - encoded (responses to Envoy): every field may be omitted, and `null` is treated as unset.
// Enum fields accept the value name or its number when encoding; decoding yields the name.

/** int64/uint64: decoded as a decimal string (`longs: String`); a number is accepted on encode. */
export type Int64 = string | number;

/** Bytes: decoded as a Buffer. A string given on encode is read as base64, not as text. */
export type Bytes = Uint8Array;

/** google.protobuf.Timestamp. */
export interface Timestamp {
  seconds?: Int64;
  nanos?: number;
}

/** google.protobuf.BoolValue: always the wrapper object; a bare boolean makes encoding throw. */
export interface BoolValue {
  value?: boolean;
}

/** google.protobuf.Any (protobufjs's bundled definition keeps the snake_case `type_url`). */
export interface Any {
  type_url?: string;
  value?: Bytes;
}

/**
 * google.protobuf.Value. The well-known types come from protobufjs's bundled descriptors, whose
 * field names are camelCase, so keepCase leaves them camelCase: `stringValue`, not `string_value`.
 * A snake_case member is silently dropped and the value arrives at Envoy empty.
 */
export interface Value {
  nullValue?: 'NULL_VALUE' | 0;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: Struct | null;
  listValue?: ListValue | null;
  /** Set on decode: which member is present. */
  kind?: 'nullValue' | 'numberValue' | 'stringValue' | 'boolValue' | 'structValue' | 'listValue';
}

/** google.protobuf.ListValue. */
export interface ListValue {
  values?: Value[];
}

/** google.protobuf.Struct. Build it with toStruct; read it with fromStruct. */
export interface Struct {
  fields?: Record<string, Value>;
}

/** google.rpc.Status. */
export interface RpcStatus {
  /** google.rpc.Code: 0 allows the request, anything else denies it. */
  code?: number;
  message?: string;
  details?: Any[];
}

/** envoy.type.v3.HttpStatus. */
export interface HttpStatus {
  /** envoy.type.v3.StatusCode: the HTTP status number, or its enum name (e.g. 'Unauthorized'). */
  code?: number | string;
}

/** envoy.config.core.v3.SocketAddress. */
export interface SocketAddress {
  protocol?: 'TCP' | 'UDP' | 0 | 1;
  address?: string;
  port_value?: number;
  named_port?: string;
  resolver_name?: string;
  ipv4_compat?: boolean;
  port_specifier?: 'port_value' | 'named_port';
}

/** envoy.config.core.v3.Pipe. */
export interface Pipe {
  path?: string;
  mode?: number;
}

/** envoy.config.core.v3.EnvoyInternalAddress. */
export interface EnvoyInternalAddress {
  server_listener_name?: string;
  endpoint_id?: string;
  address_name_specifier?: 'server_listener_name';
}

/** envoy.config.core.v3.Address. */
export interface Address {
  socket_address?: SocketAddress | null;
  pipe?: Pipe | null;
  envoy_internal_address?: EnvoyInternalAddress | null;
  address?: 'socket_address' | 'pipe' | 'envoy_internal_address';
}

/** envoy.config.core.v3.Metadata. */
export interface Metadata {
  filter_metadata?: Record<string, Struct>;
  typed_filter_metadata?: Record<string, Any>;
}

/**
 * envoy.config.core.v3.HeaderValue. Envoy sets either `value` or `raw_value`; after decoding with
 * defaults both are present, so an empty `raw_value` means "look at `value`".
 */
export interface HeaderValue {
  key?: string;
  value?: string;
  raw_value?: Bytes;
}

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction. */
export type HeaderAppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

/** envoy.config.core.v3.HeaderValueOption. */
export interface HeaderValueOption {
  header?: HeaderValue | null;
  /** Deprecated but honoured by Envoy; for ext_authz an unset wrapper means false (replace). */
  append?: BoolValue | null;
  append_action?: HeaderAppendAction | number;
  keep_empty_value?: boolean;
}

/** envoy.config.core.v3.HeaderMap. */
export interface HeaderMap {
  headers?: HeaderValue[];
}

/** envoy.config.core.v3.QueryParameter. */
export interface QueryParameter {
  key?: string;
  value?: string;
}

/** envoy.service.auth.v3.AttributeContext.Peer. */
export interface Peer {
  address?: Address | null;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  /** URL-encoded PEM. */
  certificate?: string;
}

/** envoy.service.auth.v3.AttributeContext.HttpRequest. */
export interface HttpRequest {
  id?: string;
  method?: string;
  /** Lower-cased names, repeated headers merged; empty when Envoy sends header_map instead. */
  headers?: Record<string, string>;
  /** Sent instead of `headers` when Envoy's encode_raw_headers is on: key + raw_value only. */
  header_map?: HeaderMap | null;
  /** Request target including the query string. */
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  /** -1 when unknown. */
  size?: Int64;
  protocol?: string;
  body?: string;
  raw_body?: Bytes;
}

/** envoy.service.auth.v3.AttributeContext.Request. */
export interface AttributeContextRequest {
  time?: Timestamp | null;
  http?: HttpRequest | null;
}

/** envoy.service.auth.v3.AttributeContext.TLSSession. */
export interface TLSSession {
  sni?: string;
}

/** envoy.service.auth.v3.AttributeContext. */
export interface AttributeContext {
  source?: Peer | null;
  destination?: Peer | null;
  request?: AttributeContextRequest | null;
  context_extensions?: Record<string, string>;
  metadata_context?: Metadata | null;
  route_metadata_context?: Metadata | null;
  tls_session?: TLSSession | null;
}

/** envoy.service.auth.v3.CheckRequest. */
export interface CheckRequest {
  attributes?: AttributeContext | null;
}

/** envoy.service.auth.v3.DeniedHttpResponse. */
export interface DeniedHttpResponse {
  /** Envoy answers 403 when unset. */
  status?: HttpStatus | null;
  headers?: HeaderValueOption[];
  body?: string;
}

/** envoy.service.auth.v3.OkHttpResponse. */
export interface OkHttpResponse {
  headers?: HeaderValueOption[];
  headers_to_remove?: string[];
  /** Deprecated: overrides CheckResponse.dynamic_metadata when set. */
  dynamic_metadata?: Struct | null;
  response_headers_to_add?: HeaderValueOption[];
  query_parameters_to_set?: QueryParameter[];
  query_parameters_to_remove?: string[];
}

/** envoy.service.auth.v3.CheckResponse. Set at most one of denied_response and ok_response. */
export interface CheckResponse {
  status?: RpcStatus | null;
  denied_response?: DeniedHttpResponse | null;
  ok_response?: OkHttpResponse | null;
  dynamic_metadata?: Struct | null;
  http_response?: 'denied_response' | 'ok_response';
}

/**
 * Converts a JSON-like object to a Struct with the same result JSON.stringify would give:
 * toJSON() is honoured, undefined/function/symbol members are skipped (null inside arrays), and
 * non-finite numbers become null. Throws on bigint, as JSON.stringify does.
 */
export function toStruct(obj: Record<string, unknown>): Struct {
  const fields: Record<string, Value> = {};
  for (const [key, member] of Object.entries(obj)) {
    const value = toValue(member);
    if (value !== undefined) fields[key] = value;
  }
  return { fields };
}

/** Returns undefined for members JSON.stringify would omit from an object. */
function toValue(input: unknown): Value | undefined {
  const json = hasToJSON(input) ? input.toJSON() : input;
  switch (typeof json) {
    case 'string':
      return { stringValue: json };
    case 'boolean':
      return { boolValue: json };
    case 'number':
      return Number.isFinite(json) ? { numberValue: json } : { nullValue: 'NULL_VALUE' };
    case 'bigint':
      throw new TypeError('toStruct: bigint cannot be represented');
    case 'object':
      if (json === null) return { nullValue: 'NULL_VALUE' };
      if (Array.isArray(json)) {
        const values = json.map((item): Value => toValue(item) ?? { nullValue: 'NULL_VALUE' });
        return { listValue: { values } };
      }
      return { structValue: toStruct(json as Record<string, unknown>) };
    default:
      return undefined;
  }
}

function hasToJSON(value: unknown): value is { toJSON(): unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

/** Converts a Struct (decoded or built by toStruct) back to a plain JSON object. */
export function fromStruct(struct: Struct | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = fromValue(value);
  return out;
}

// Decoded Values carry exactly one member (defaults do not fill oneof members); a Value with no
// member set has no JSON meaning and reads as null.
function fromValue(value: Value): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.numberValue !== undefined) return value.numberValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.structValue) return fromStruct(value.structValue);
  if (value.listValue) return (value.listValue.values ?? []).map(fromValue);
  return null;
}
