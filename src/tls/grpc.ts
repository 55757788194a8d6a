import * as grpc from '@grpc/grpc-js';
import type { ListenerTls } from './listener-tls.js';

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
 * allowedClients on the gRPC listener: grpc-js does not expose its TLS server, so a CA-signed client
 * outside the list is answered UNAUTHENTICATED before any handler (Check, health, reflection) runs.
 */
export function allowedClientsInterceptor(tls: ListenerTls): grpc.ServerInterceptor {
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        const listener = new grpc.ServerListenerBuilder()
          .withOnReceiveMetadata((metadata, forward) => {
            if (tls.admits(call.getAuthContext().sslPeerCertificate)) forward(metadata);
            else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'client certificate not allowed' });
          })
          .build();
        next(listener);
      },
    });
}
