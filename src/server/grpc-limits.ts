import * as grpc from '@grpc/grpc-js';
import type { GrpcLimits } from '../config/grpc-limits.js';

/**
 * nghttp2's memory cap for one connection, in MB (Node's `maxSessionMemory`). grpc-js turns the cap
 * off unless told; with it, a connection whose headers, buffers and streams outgrow it gets new
 * streams refused (ENHANCE_YOUR_CALM) instead of growing the heap until the process dies.
 */
const SESSION_MEMORY_MB = 32;

/** A ping to a connection silent this long finds a peer that vanished without closing; no answer in the timeout closes it. */
const KEEPALIVE_TIME_MS = 120_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

/** grpc-js server options bounding a connection: streams, memory, idle time, dead peers. */
export function grpcServerLimits(limits: GrpcLimits): grpc.ServerOptions {
  return {
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc-node.max_session_memory': SESSION_MEMORY_MB,
    'grpc.max_connection_idle_ms': limits.connectionIdleSeconds * 1000,
    'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
  };
}

/**
 * Ends a call whose request message does not arrive in time. grpc-js keeps a stream that sent its
 * headers and part of a message for as long as the connection lives, and the client's own deadline
 * (grpc-timeout) is the client's to omit; Envoy sends the whole request at once.
 */
export function messageDeadlineInterceptor(timeoutMs: number): grpc.ServerInterceptor {
  return (_method, call) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = () => clearTimeout(timer);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        timer = setTimeout(
          () => call.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: 'the request message did not arrive in time' }),
          timeoutMs,
        );
        next(
          new grpc.ServerListenerBuilder()
            .withOnReceiveMessage((message, forward) => {
              settle();
              forward(message);
            })
            .withOnCancel(settle)
            .build(),
        );
      },
      sendStatus: (status, next) => {
        settle();
        next(status);
      },
    });
  };
}
