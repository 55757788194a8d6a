import { z } from 'zod';

/**
 * `limits.grpc`: what one client may hold on the gRPC port (its user, src/server/grpc-limits.ts, is
 * above config). Envoy opens another connection when a
 * connection's stream limit is reached, and reconnects after a GOAWAY, so these cost it nothing.
 */
/** What a config without `limits.grpc` gets. */
export const GRPC_LIMIT_DEFAULTS = { maxConcurrentStreams: 1000, connectionIdleSeconds: 300, messageTimeoutMs: 5000 };

export const grpcLimitsSchema = z
  .strictObject({
    /** Streams open at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); more are refused. */
    maxConcurrentStreams: z.number().int().min(1).max(100000).default(1000),
    /** A connection with no open stream for this long is closed with GOAWAY (gRPC's max_connection_idle). */
    connectionIdleSeconds: z.number().min(1).max(86400).default(300),
    /** A call whose request message has not fully arrived this long after its headers is ended (DEADLINE_EXCEEDED). */
    messageTimeoutMs: z.number().int().min(100).max(60000).default(5000),
  })
  .default(GRPC_LIMIT_DEFAULTS);

export type GrpcLimits = z.infer<typeof grpcLimitsSchema>;
