import * as grpc from '@grpc/grpc-js';
import type { Caller } from '../util/caller.js';
import { callerFrom, type ListenerTls } from './listener-tls.js';

/**
 * grpc-js server credentials whose pair follows a ListenerTls. grpc-js re-reads the secure context
 * through the watcher protocol of ServerCredentials (`updateSecureContextOptions` → the http2 server's
 * setSecureContext), so new connections get the new pair and open ones keep theirs.
 */
class ReloadingServerCredentials extends grpc.ServerCredentials {
  constructor(tls: ListenerTls) {
    const clientCert = tls.requiresClientCertificate;
    super({ requestCert: clientCert, rejectUnauthorized: clientCert, minVersion: 'TLSv1.2' }, tls.context);
    tls.onUpdate((context) => this.updateSecureContextOptions(context));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export function grpcServerCredentials(tls: ListenerTls): grpc.ServerCredentials {
  return new ReloadingServerCredentials(tls);
}

/**
 * The caller of each admitted call: the client certificate (its first URI SAN and its DER), found by
 * the call's metadata object, which grpc-js hands on to the handler. Reading the peer certificate
 * costs ~10 µs (node builds it anew each time), so it is read once per call, here, not again for the
 * handler.
 */
const callers = new WeakMap<grpc.Metadata, Caller | undefined>();

/** The client certificate the interceptor found for the call with this metadata; undefined when none. */
export function callerOf(metadata: grpc.Metadata): Caller | undefined {
  return callers.get(metadata);
}

/**
 * allowedClients on the gRPC listener: grpc-js does not expose its TLS server, so a CA-signed client
 * outside the list is answered UNAUTHENTICATED before any handler (Check, health, reflection) runs.
 */
export function allowedClientsInterceptor(tls: ListenerTls): grpc.ServerInterceptor {
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        const listener = new grpc.ServerListenerBuilder()
          .withOnReceiveMetadata((metadata, forward) => {
            const caller = callerFrom(call.getAuthContext().sslPeerCertificate);
            if (tls.admits(caller?.id)) {
              callers.set(metadata, caller);
              forward(metadata);
            } else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'client certificate not allowed' });
          })
          .build();
        next(listener);
      },
    });
}
