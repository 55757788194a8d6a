import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

const require = createRequire(import.meta.url);
export const REFLECTION_PROTO_ROOT = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
const VERSIONS = ['v1', 'v1alpha'] as const;
/** As @grpc/reflection loads these protos (its PROTO_LOADER_OPTS): its handlers read and write messages of this shape. */
const REFLECTION_LOADER_OPTIONS = { longs: String, enums: String, bytes: Array, defaults: true, oneofs: true };

export const reflectionProto = (version: (typeof VERSIONS)[number]) =>
  join(REFLECTION_PROTO_ROOT, `grpc/reflection/${version}/reflection.proto`);

type ReflectionCall = grpc.ServerDuplexStream<unknown, unknown>;
type ReflectionHandler = (call: ReflectionCall) => void;

/**
 * Serves server reflection (grpc.reflection v1 and v1alpha, as @grpc/reflection does), building it on
 * its first call. Building it loads @grpc/reflection and turns every served proto into descriptors,
 * memory a sidecar would otherwise hold for its whole life while only an operator's grpcurl asks
 * (bench/OPTIMIZATIONS.md has the idle RSS before and after). `describe` returns the package
 * definition to describe.
 */
export function addLazyReflection(server: grpc.Server, describe: () => PackageDefinition): void {
  let handlers: Promise<Map<string, ReflectionHandler>> | undefined;
  for (const version of VERSIONS) {
    const definition = loadSync(reflectionProto(version), REFLECTION_LOADER_OPTIONS)[
      `grpc.reflection.${version}.ServerReflection`
    ] as grpc.ServiceDefinition;
    const path = definition.ServerReflectionInfo!.path;
    server.addService(definition, {
      ServerReflectionInfo: (call: ReflectionCall) => {
        // Messages that arrive meanwhile wait in the stream's buffer until the real handler reads it.
        (handlers ??= buildHandlers(describe)).then(
          (byPath) => byPath.get(path)!(call),
          () => call.emit('error', { code: grpc.status.INTERNAL, details: 'server reflection is unavailable' }),
        );
      },
    });
  }
}

/** @grpc/reflection's handlers by method path: it registers them itself, so a stand-in server collects them. */
async function buildHandlers(describe: () => PackageDefinition): Promise<Map<string, ReflectionHandler>> {
  const { ReflectionService } = await import('@grpc/reflection');
  const byPath = new Map<string, ReflectionHandler>();
  const collector = {
    addService: (service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => {
      for (const [name, method] of Object.entries(service)) byPath.set(method.path, implementation[name] as ReflectionHandler);
    },
  };
  new ReflectionService(describe()).addToServer(collector);
  return byPath;
}
