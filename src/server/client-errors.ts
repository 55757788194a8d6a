import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** How long a refused client may keep sending before its socket is closed. */
const DRAIN_MS = 5_000;

/**
 * Answers requests node's HTTP parser refuses (a header block over `maxHeaderSize`, 16 KiB by default →
 * 431; anything else unparseable → 400) so that the client reads the answer. Node's default writes the
 * answer and destroys the socket at once: with the rest of a large header still unread, the kernel
 * then resets the connection and the client sees a reset instead of the status. Here the socket is
 * half-closed after the answer and what the client still sends is read and dropped, for at most
 * DRAIN_MS.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // The parser reports again for each further chunk it is fed; the first report answered.
    if (socket.writableEnded) return;
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    socket.resume();
    setTimeout(() => socket.destroy(), DRAIN_MS).unref();
  });
}
