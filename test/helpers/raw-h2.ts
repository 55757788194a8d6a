import { connect, type Socket } from 'node:net';

/**
 * A hostile HTTP/2 client written frame by frame (node:http2 would respect the server's limits):
 * it sends the preface, acknowledges the server's SETTINGS and opens gRPC Check streams that send
 * their headers and two bytes of the five-byte message prefix, then nothing more.
 */
export class RawH2Client {
  /** Streams the server answered (HEADERS) or reset (RST_STREAM). */
  readonly answered = new Set<number>();
  goaway = false;
  readonly closed: Promise<void>;
  private nextStream = 1;
  private pending = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined); // a reset by the server is an expected way for a flood to end
    socket.on('data', (chunk: Buffer) => this.read(chunk));
  }

  static async connect(port: number): Promise<RawH2Client> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
    return new RawH2Client(socket);
  }

  get open(): boolean {
    return !this.socket.destroyed;
  }

  /** Opens `count` unfinished Check streams, writing in batches and honouring the socket's backpressure. */
  async openUnfinished(count: number, batch = 2000): Promise<number> {
    let opened = 0;
    while (opened < count && this.open) {
      const frames: Buffer[] = [];
      for (let i = 0; i < batch && opened < count; i++, opened++) {
        const id = this.nextStream;
        this.nextStream += 2;
        frames.push(frame(1, 0x4, id, CHECK_HEADERS), frame(0, 0, id, PARTIAL_PREFIX));
      }
      if (!this.socket.write(Buffer.concat(frames))) {
        await new Promise<void>((resolve) => {
          this.socket.once('drain', resolve);
          this.socket.once('close', resolve);
        });
      }
    }
    return opened;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) return;
      const type = this.pending[3]!;
      const flags = this.pending[4]!;
      const stream = this.pending.readUInt32BE(5) & 0x7fffffff;
      this.pending = this.pending.subarray(9 + length);
      if (type === 4 && (flags & 0x1) === 0 && this.open) this.socket.write(frame(4, 0x1, 0, Buffer.alloc(0)));
      else if (type === 1 || type === 3) this.answered.add(stream);
      else if (type === 7) this.goaway = true;
    }
  }
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK, literal and without Huffman coding: `0x8n` is an indexed static entry, `0x0n` a literal. */
function literal(nameIndex: number, name: string, value: string): Buffer {
  const head = nameIndex > 0 ? [nameIndex] : [0, name.length, ...Buffer.from(name)];
  return Buffer.from([...head, value.length, ...Buffer.from(value)]);
}

const CHECK_HEADERS = Buffer.concat([
  Buffer.from([0x83, 0x86]), // :method POST, :scheme http
  literal(4, ':path', '/envoy.service.auth.v3.Authorization/Check'),
  literal(1, ':authority', 'localhost'),
  literal(0, 'content-type', 'application/grpc'),
  literal(0, 'te', 'trailers'),
]);

/** Compressed flag and the first byte of the length: the message never completes. */
const PARTIAL_PREFIX = Buffer.from([0, 0]);
