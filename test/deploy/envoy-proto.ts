/**
 * A strict checker for Envoy YAML configs against Envoy's OFFICIAL protos (shipped by
 * @grpc/grpc-js-xds under deps/). protobufjs's `Type.fromObject` silently ignores unknown keys and
 * coerces types, which is exactly what hides a typo in an Envoy config until Envoy refuses it; this walker
 * reports, with the path, every key that is not a field, every value of the wrong shape, every `@type`
 * that names no loaded message, every deprecated field, and every missing field the protos' validation
 * rules require (protoc-gen-validate `required`, `min_len`, `min_items`, required oneofs).
 *
 * Input is the proto3 JSON mapping Envoy accepts in YAML: field names in snake_case or lowerCamelCase,
 * Duration as "0.25s", wrappers as plain values, enums by name, Any as { "@type": url, ...fields }.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const XDS_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const PROTOBUFJS_DIR = dirname(require.resolve('protobufjs/package.json'));
const INCLUDE_DIRS = [...['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(XDS_DEPS, d)), PROTOBUFJS_DIR];

/**
 * The bootstrap and the extensions the example configs use. An extension proto not listed here makes
 * its `@type` unresolvable, and the checker says so: add the file here when a config starts using it.
 */
export const ENVOY_PROTO_FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/health_check/v3/health_check.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
];

export async function loadEnvoyRoot(): Promise<protobuf.Root> {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    // protobufjs bundles the common well-known types (any, duration, struct, wrappers...) by name.
    if (target in protobuf.common) return target;
    for (const dir of INCLUDE_DIRS) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  await root.load(ENVOY_PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

const TYPE_URL_PREFIX = 'type.googleapis.com/';
const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64 = new Set(['uint64', 'fixed64']);

type Json = unknown;

function isPlainObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `${typeof value} ${JSON.stringify(value)}`;
}

/** lowerCamelCase, as protoc derives json_name from a snake_case field name. */
function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export class EnvoyConfigChecker {
  private readonly errors: string[] = [];
  /** Every message type seen, by full name (without the leading dot), to assert coverage in tests. */
  readonly typesSeen = new Set<string>();

  constructor(private readonly root: protobuf.Root) {}

  /** Checks `value` as message `typeName`; returns every problem found (empty when valid). */
  static check(root: protobuf.Root, typeName: string, value: Json): { errors: string[]; typesSeen: Set<string> } {
    const checker = new EnvoyConfigChecker(root);
    checker.message(checker.root.lookupType(typeName), value, '');
    return { errors: checker.errors, typesSeen: checker.typesSeen };
  }

  private fail(path: string, message: string): void {
    this.errors.push(`${path || '<root>'}: ${message}`);
  }

  private message(type: protobuf.Type, value: Json, path: string): void {
    const fullName = type.fullName.replace(/^\./, '');
    this.typesSeen.add(fullName);
    if (this.wellKnown(fullName, value, path)) return;
    if (!isPlainObject(value)) {
      this.fail(path, `${fullName} must be a mapping, got ${describe(value)}`);
      return;
    }
    const byName = new Map<string, protobuf.Field>();
    for (const field of type.fieldsArray) {
      byName.set(field.name, field);
      byName.set(jsonName(field.name), field);
    }
    const present = new Set<string>();
    const oneofMembers = new Map<string, string[]>();
    for (const [key, fieldValue] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      const field = byName.get(key);
      if (!field) {
        this.fail(at, `unknown field of ${fullName}`);
        continue;
      }
      if (present.has(field.name)) this.fail(at, `${field.name} is set twice (snake_case and camelCase)`);
      present.add(field.name);
      if (field.options?.deprecated === true) this.fail(at, `deprecated field of ${fullName}`);
      if (field.partOf) {
        const members = oneofMembers.get(field.partOf.name) ?? [];
        members.push(field.name);
        oneofMembers.set(field.partOf.name, members);
      }
      this.field(field, fieldValue, at);
    }
    for (const [oneof, members] of oneofMembers) {
      if (members.length > 1) this.fail(path, `oneof ${fullName}.${oneof} has more than one member set: ${members.join(', ')}`);
    }
    this.requiredFields(type, value, present, path, fullName);
  }

  /**
   * protoc-gen-validate rules that amount to "must be set": `required` on messages, durations and Any,
   * string `min_len`/`min_bytes`, repeated `min_items`, and required oneofs. As in PGV, a rule on a oneof
   * member applies only when that member is the one set.
   */
  private requiredFields(type: protobuf.Type, value: Record<string, Json>, present: Set<string>, path: string, fullName: string): void {
    const valueOf = (field: protobuf.Field) => value[field.name] ?? value[jsonName(field.name)];
    for (const field of type.fieldsArray) {
      const options = field.options ?? {};
      const minLen = Math.max(
        Number(options['(validate.rules).string.min_len'] ?? 0),
        Number(options['(validate.rules).string.min_bytes'] ?? 0),
      );
      const minItems = Number(options['(validate.rules).repeated.min_items'] ?? 0);
      const required =
        options['(validate.rules).message.required'] === true ||
        options['(validate.rules).duration.required'] === true ||
        options['(validate.rules).any.required'] === true ||
        minLen > 0 ||
        minItems > 0;
      if (!present.has(field.name)) {
        if (required && !field.partOf) this.fail(path, `${fullName}.${field.name} is required`);
        continue;
      }
      const v = valueOf(field);
      if (minLen > 0 && typeof v === 'string' && v.length < minLen)
        this.fail(path, `${fullName}.${field.name} must not be shorter than ${minLen}`);
      if (minItems > 0 && Array.isArray(v) && v.length < minItems)
        this.fail(path, `${fullName}.${field.name} needs at least ${minItems} item(s)`);
    }
    for (const oneof of type.oneofsArray) {
      if (oneof.options?.['(validate.required)'] === true && !oneof.oneof.some((name) => present.has(name))) {
        this.fail(path, `${fullName}: one of ${oneof.oneof.join(', ')} is required`);
      }
    }
  }

  private field(field: protobuf.Field, value: Json, path: string): void {
    if (value === null || value === undefined) {
      this.fail(path, 'has no value (null): remove the key or give it one');
      return;
    }
    if (field.map) {
      if (!isPlainObject(value)) {
        this.fail(path, `map field must be a mapping, got ${describe(value)}`);
        return;
      }
      const keyType = (field as unknown as protobuf.MapField).keyType;
      for (const [key, item] of Object.entries(value)) {
        if (keyType !== 'string' && !/^-?\d+$/.test(key) && keyType !== 'bool') this.fail(`${path}.${key}`, `map key must be ${keyType}`);
        this.single(field, item, `${path}.${key}`);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        this.fail(path, `repeated field must be a list, got ${describe(value)}`);
        return;
      }
      value.forEach((item, i) => this.single(field, item, `${path}[${i}]`));
      return;
    }
    this.single(field, value, path);
  }

  private single(field: protobuf.Field, value: Json, path: string): void {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      this.message(resolved, value, path);
      return;
    }
    if (resolved instanceof protobuf.Enum) {
      this.enumValue(resolved, value, path);
      return;
    }
    this.scalar(field.type, value, path);
  }

  private enumValue(type: protobuf.Enum, value: Json, path: string): void {
    const fullName = type.fullName.replace(/^\./, '');
    if (typeof value === 'string') {
      if (!(value in type.values)) {
        this.fail(path, `${JSON.stringify(value)} is not a value of ${fullName} (${Object.keys(type.values).join(', ')})`);
      } else if (type.valuesOptions?.[value]?.deprecated === true) {
        this.fail(path, `${value} is a deprecated value of ${fullName}`);
      }
      return;
    }
    if (typeof value === 'number' && Object.values(type.values).includes(value)) return;
    this.fail(path, `${fullName} must be a value name, got ${describe(value)}`);
  }

  private scalar(kind: string, value: Json, path: string): void {
    const integer = (v: Json) => (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));
    let ok: boolean;
    if (kind === 'string') ok = typeof value === 'string';
    else if (kind === 'bool') ok = typeof value === 'boolean';
    else if (kind === 'bytes') ok = typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value);
    else if (kind === 'double' || kind === 'float') ok = typeof value === 'number';
    else if (INT32.has(kind)) ok = integer(value) && Math.abs(Number(value)) <= 2 ** 31;
    else if (UINT32.has(kind)) ok = integer(value) && Number(value) >= 0 && Number(value) < 2 ** 32;
    else if (INT64.has(kind)) ok = integer(value);
    else if (UINT64.has(kind)) ok = integer(value) && !String(value).startsWith('-');
    else {
      this.fail(path, `unsupported scalar type ${kind}`);
      return;
    }
    if (!ok) this.fail(path, `must be ${kind}, got ${describe(value)}`);
  }

  /** The well-known types' JSON forms. Returns false for ordinary messages. */
  private wellKnown(fullName: string, value: Json, path: string): boolean {
    switch (fullName) {
      case 'google.protobuf.Any':
        this.any(value, path);
        return true;
      case 'google.protobuf.Duration':
        if (typeof value !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(value)) {
          this.fail(path, `a Duration is a string like "0.25s" or "5s", got ${describe(value)}`);
        }
        return true;
      case 'google.protobuf.Timestamp':
        if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
          this.fail(path, `a Timestamp is an RFC 3339 string, got ${describe(value)}`);
        return true;
      case 'google.protobuf.Struct':
        if (!isPlainObject(value)) this.fail(path, `a Struct is a mapping, got ${describe(value)}`);
        return true;
      case 'google.protobuf.Value':
        return true;
      case 'google.protobuf.ListValue':
        if (!Array.isArray(value)) this.fail(path, `a ListValue is a list, got ${describe(value)}`);
        return true;
      case 'google.protobuf.Empty':
        if (!isPlainObject(value) || Object.keys(value).length > 0) this.fail(path, 'an Empty is {}');
        return true;
      case 'google.protobuf.FieldMask':
        if (typeof value !== 'string') this.fail(path, `a FieldMask is a string, got ${describe(value)}`);
        return true;
      case 'google.protobuf.BoolValue':
        this.scalar('bool', value, path);
        return true;
      case 'google.protobuf.StringValue':
        this.scalar('string', value, path);
        return true;
      case 'google.protobuf.BytesValue':
        this.scalar('bytes', value, path);
        return true;
      case 'google.protobuf.DoubleValue':
      case 'google.protobuf.FloatValue':
        this.scalar('double', value, path);
        return true;
      case 'google.protobuf.Int32Value':
        this.scalar('int32', value, path);
        return true;
      case 'google.protobuf.UInt32Value':
        this.scalar('uint32', value, path);
        return true;
      case 'google.protobuf.Int64Value':
        this.scalar('int64', value, path);
        return true;
      case 'google.protobuf.UInt64Value':
        this.scalar('uint64', value, path);
        return true;
      default:
        return false;
    }
  }

  private any(value: Json, path: string): void {
    if (!isPlainObject(value)) {
      this.fail(path, `an Any is a mapping with "@type", got ${describe(value)}`);
      return;
    }
    const url = value['@type'];
    if (typeof url !== 'string' || !url.startsWith(TYPE_URL_PREFIX)) {
      this.fail(path, `"@type" must be "${TYPE_URL_PREFIX}<message>", got ${describe(url)}`);
      return;
    }
    const name = url.slice(TYPE_URL_PREFIX.length);
    let type: protobuf.Type;
    try {
      type = this.root.lookupType(name);
    } catch {
      this.fail(`${path}.@type`, `${name} is not a message in the loaded protos (a typo, or add its file to ENVOY_PROTO_FILES)`);
      return;
    }
    const { ['@type']: _ignored, ...rest } = value;
    const wellKnown = type.fullName.replace(/^\./, '').startsWith('google.protobuf.');
    // An Any holding a well-known type carries its JSON form under "value".
    if (wellKnown) this.message(type, rest.value, `${path}.value`);
    else this.message(type, rest, path);
  }
}
