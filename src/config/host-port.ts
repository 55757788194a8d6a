import { z } from 'zod';

/** `host:port` of a listener (IPv6 in brackets); port 0 picks a free port. */
export const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
export const hostPortSchema = z.string().regex(HOST_PORT, 'must be host:port, e.g. 0.0.0.0:9001 (port 0 picks a free port)');
