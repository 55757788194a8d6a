import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

/**
 * Complete, linkable FileDescriptorProtos for server reflection.
 *
 * @grpc/reflection 1.0.4 serves what protobufjs's Root#toDescriptor builds: one file per package, no
 * `dependency` entries and field types relative to their scope (grpc-node #3034), so a client that
 * builds a descriptor pool from them, as grpcurl does, cannot resolve `google.protobuf.Struct` or
 * `AttributeContext`. This builds one descriptor per source file instead, with the file's own name,
 * every file it uses listed as a dependency and every type reference fully qualified.
 */

type Reflected = protobuf.Type | protobuf.Enum | protobuf.Service;
type MessageDescriptor = descriptor.IDescriptorProto;
type FileDescriptor = descriptor.IFileDescriptorProto;

/**
 * protobufjs bundles the well-known types as JSON (no file name on their objects, camelCase field
 * names); the real files name their fields in snake_case, which is what clients expect to see.
 */
const WELL_KNOWN_FILES = new Map<string, string>();
for (const name of ['any', 'duration', 'empty', 'field_mask', 'struct', 'timestamp', 'wrappers']) {
  const file = `google/protobuf/${name}.proto`;
  const json = protobuf.common.get(file) as { nested: { google: { nested: { protobuf: { nested: Record<string, unknown> } } } } };
  for (const typeName of Object.keys(json.nested.google.nested.protobuf.nested)) WELL_KNOWN_FILES.set(`.google.protobuf.${typeName}`, file);
}

/**
 * Loads `files` (paths relative to one of `includeDirs`) and returns each source file's encoded
 * FileDescriptorProto, every file after the files it depends on.
 */
export function linkableFileDescriptors(files: string[], includeDirs: string[]): Buffer[] {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => resolveInclude(target, includeDirs);
  root.loadSync(files, { keepCase: true });
  root.resolveAll();

  const fileName = (obj: protobuf.ReflectionObject): string => {
    let top = obj;
    while (top.parent && !(top.parent instanceof protobuf.Root) && !isPackage(top.parent)) top = top.parent;
    const wellKnown = WELL_KNOWN_FILES.get(top.fullName);
    if (wellKnown) return wellKnown;
    if (!top.filename) throw new Error(`no source file for ${top.fullName}`);
    return includeRelative(top.filename, includeDirs);
  };

  const byFile = new Map<string, { pkg: string; members: Reflected[]; dependencies: Set<string> }>();
  for (const member of topLevelMembers(root)) {
    const name = fileName(member);
    const entry = byFile.get(name) ?? { pkg: member.parent!.fullName.slice(1), members: [], dependencies: new Set<string>() };
    entry.members.push(member);
    byFile.set(name, entry);
  }

  const built = new Map<string, FileDescriptor>();
  for (const [name, { pkg, members, dependencies }] of byFile) {
    const uses = (target: protobuf.ReflectionObject): string => {
      const targetFile = fileName(target);
      if (targetFile !== name) dependencies.add(targetFile);
      return target.fullName;
    };
    const file: FileDescriptor = { name, package: pkg, syntax: 'proto3', dependency: [], messageType: [], enumType: [], service: [] };
    for (const member of members) {
      if (member instanceof protobuf.Type) file.messageType!.push(messageDescriptor(member, uses, WELL_KNOWN_FILES.has(member.fullName)));
      else if (member instanceof protobuf.Enum) file.enumType!.push(member.toDescriptor('proto3'));
      else file.service!.push(serviceDescriptor(member, uses));
    }
    file.dependency = [...dependencies].sort();
    built.set(name, file);
  }

  return dependencyOrder(built).map((file) => Buffer.from(descriptor.FileDescriptorProto.encode(file).finish()));
}

function resolveInclude(target: string, includeDirs: string[]): string {
  if (isAbsolute(target)) return target;
  const dir = includeDirs.find((d) => existsSync(join(d, target)));
  if (!dir) throw new Error(`${target} is in none of ${includeDirs.join(', ')}`);
  return join(dir, target);
}

function includeRelative(filename: string, includeDirs: string[]): string {
  for (const dir of includeDirs) {
    const rel = relative(dir, filename);
    if (!rel.startsWith('..')) return rel.split('\\').join('/');
  }
  throw new Error(`${filename} is outside the include directories`);
}

/** A plain namespace is a package segment; types, enums and services are what files declare. */
function isPackage(obj: protobuf.ReflectionObject): boolean {
  return obj instanceof protobuf.Namespace && !(obj instanceof protobuf.Type) && !(obj instanceof protobuf.Service);
}

function topLevelMembers(ns: protobuf.NamespaceBase): Reflected[] {
  return ns.nestedArray.flatMap((nested) => {
    if (nested instanceof protobuf.Type || nested instanceof protobuf.Enum || nested instanceof protobuf.Service) return [nested];
    return isPackage(nested) ? topLevelMembers(nested as protobuf.Namespace) : [];
  });
}

/** protobufjs's descriptor for `type`, with every type reference replaced by its full name. */
function messageDescriptor(
  type: protobuf.Type,
  uses: (target: protobuf.ReflectionObject) => string,
  snakeCase: boolean,
): MessageDescriptor {
  const built = type.toDescriptor('proto3') as MessageDescriptor;
  const nestedTypes = type.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);
  const mapEntries = new Map((built.nestedType ?? []).filter((n) => n.options?.mapEntry).map((n) => [n.name!, n]));
  type.fieldsArray.forEach((field, i) => {
    const fieldDescriptor = built.field![i]!;
    if (snakeCase) fieldDescriptor.name = snakeCaseOf(field.name);
    const entry = field.map ? mapEntries.get(fieldDescriptor.typeName!) : undefined;
    if (entry) {
      // protoc's name for a map's entry type, which descriptor pools insist on: field_name -> FieldNameEntry.
      entry.name = `${upperCamelCase(fieldDescriptor.name!)}Entry`;
      fieldDescriptor.typeName = `${type.fullName}.${entry.name}`;
      if (field.resolvedType) entry.field![1]!.typeName = uses(field.resolvedType);
    } else if (field.resolvedType) {
      fieldDescriptor.typeName = uses(field.resolvedType);
    }
  });
  built.nestedType = [
    ...(built.nestedType ?? []).filter((n) => n.options?.mapEntry),
    ...nestedTypes.map((nested) => messageDescriptor(nested, uses, snakeCase)),
  ];
  return built;
}

function serviceDescriptor(
  service: protobuf.Service,
  uses: (target: protobuf.ReflectionObject) => string,
): descriptor.IServiceDescriptorProto {
  return {
    name: service.name,
    method: service.methodsArray.map((method) => ({
      name: method.name,
      inputType: uses(method.resolvedRequestType!),
      outputType: uses(method.resolvedResponseType!),
      clientStreaming: method.requestStream === true,
      serverStreaming: method.responseStream === true,
    })),
  };
}

function upperCamelCase(name: string): string {
  return name.replace(/(?:^|_)([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function snakeCaseOf(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Files after their dependencies: a pool (protoc's, Python's, grpcurl's) links them in that order. */
function dependencyOrder(files: Map<string, FileDescriptor>): FileDescriptor[] {
  const ordered: FileDescriptor[] = [];
  const placed = new Set<string>();
  const place = (name: string): void => {
    if (placed.has(name)) return;
    placed.add(name);
    const file = files.get(name)!;
    // protobufjs types `dependency` loosely; this module filled it with file names.
    (file.dependency as string[]).forEach(place);
    ordered.push(file);
  };
  [...files.keys()].sort().forEach(place);
  return ordered;
}
