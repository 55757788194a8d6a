import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type AnyDefinition, type PackageDefinition } from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { withTolerantCheckDecoding, type IncomingCheck, type OutgoingCheck } from './check-codec.js';
import { linkableFileDescriptors } from './descriptors.js';
import { AUTHORIZATION_SERVICE, LOADER_OPTIONS, PROTO_ROOT } from './proto.js';
import { addLazyReflection, REFLECTION_PROTO_ROOT, reflectionProto } from './reflection.js';
import { allowedClientsInterceptor, callerOf, grpcServerCredentials } from '../tls/grpc.js';
import type { ListenerTls } from '../tls/listener-tls.js';
import type { Caller } from '../util/caller.js';
import type { GrpcLimits } from '../config/grpc-limits.js';
import { grpcServerLimits, messageDeadlineInterceptor } from './grpc-limits.js';

const HEALTH_PROTO_ROOT = dirname(dirname(dirname(healthProtoPath)));

/** `caller`: the client certificate on the Check RPC (mTLS on listen.tls), if any. */
export type CheckHandler = (request: IncomingCheck, caller?: Caller) => Promise<OutgoingCheck>;

export interface GrpcServer {
  port: number;
  /**
   * grpc.health.v1 status: service "" follows `live` (the process answers; liveness), the Authorization
   * service follows `ready` (it can decide: keys usable, revocations fresh; readiness and Envoy's
   * cluster health check). Both go NOT_SERVING while draining.
   */
  setHealth(health: { live: boolean; ready: boolean }): void;
  /** Stops accepting calls; resolves when in-flight calls finished or `graceMs` passed. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Serves envoy.service.auth.v3.Authorization/Check, grpc.health.v1 (service names "" and the
 * Authorization service) and server reflection, so `grpcurl -plaintext host:9001 list` shows all three.
 */
export interface GrpcServerOptions {
  /** Plaintext when absent. */
  tls?: ListenerTls;
  limits: GrpcLimits;
}

export async function startGrpcServer(
  address: string,
  check: CheckHandler,
  onError: (err: unknown) => void,
  options: GrpcServerOptions,
): Promise<GrpcServer> {
  // One package definition holding every served service, so reflection describes them all.
  const pkg = loadSync(['envoy/service/auth/v3/external_auth.proto', healthProtoPath, reflectionProto('v1')], {
    ...LOADER_OPTIONS,
    includeDirs: [PROTO_ROOT],
  });
  const authorization = withTolerantCheckDecoding(pkg[AUTHORIZATION_SERVICE] as grpc.ServiceDefinition);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
    ...grpcServerLimits(options.limits),
    interceptors: [
      messageDeadlineInterceptor(options.limits.messageTimeoutMs),
      ...(options.tls ? [allowedClientsInterceptor(options.tls)] : []),
    ],
  });

  server.addService(authorization, {
    Check: (call: grpc.ServerUnaryCall<IncomingCheck, OutgoingCheck>, callback: grpc.sendUnaryData<OutgoingCheck>) => {
      check(call.request, callerOf(call.metadata)).then(
        (response) => callback(null, response),
        (err: unknown) => {
          // The handler turns every failure into a deny; reaching here is a bug, and an RPC error
          // is the only answer left (Envoy then applies failure_mode_allow, which must be false).
          onError(err);
          callback({ code: grpc.status.INTERNAL, details: 'internal error' });
        },
      );
    },
  });

  // NOT_SERVING until the owner says otherwise with setHealth.
  const health = new HealthImplementation({ '': 'NOT_SERVING', [AUTHORIZATION_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  addLazyReflection(server, () => withLinkableDescriptors(pkg));

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, options.tls ? grpcServerCredentials(options.tls) : grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );

  return {
    port,
    setHealth({ live, ready }) {
      health.setStatus('', live ? 'SERVING' : 'NOT_SERVING');
      health.setStatus(AUTHORIZATION_SERVICE, ready ? 'SERVING' : 'NOT_SERVING');
    },
    shutdown(graceMs) {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/**
 * The package definition with every entry's descriptors replaced by complete, linkable ones (see
 * descriptors.ts): @grpc/reflection indexes and serves whatever `fileDescriptorProtos` it is given.
 */
function withLinkableDescriptors(pkg: PackageDefinition): PackageDefinition {
  const files = linkableFileDescriptors(
    ['envoy/service/auth/v3/external_auth.proto', 'health/v1/health.proto', 'grpc/reflection/v1/reflection.proto'],
    [PROTO_ROOT, HEALTH_PROTO_ROOT, REFLECTION_PROTO_ROOT],
  );
  const linked: PackageDefinition = {};
  for (const [name, definition] of Object.entries(pkg)) {
    linked[name] = 'format' in definition ? ({ ...definition, fileDescriptorProtos: files } as AnyDefinition) : definition;
  }
  return linked;
}
