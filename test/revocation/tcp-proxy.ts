import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of Redis that plays the network between one replica and the store:
 * `cut()` drops every connection and refuses new ones (an outage the client notices at once),
 * `freeze()` keeps sockets open but moves no bytes (a silent partition: no RST, no FIN),
 * `holdFrom(text)` freezes as soon as the client sends `text`, holding those bytes back,
 * `heal()` restores normal service and delivers what was held, late, as a stalled network would
 * (a client that hung up meanwhile has its FIN delivered after them, as TCP does).
 */
export class TcpProxy {
  private mode: 'open' | 'cut' | 'frozen' = 'open';
  private readonly pairs = new Set<[Socket, Socket]>();
  private trigger: string | undefined;
  /** Client bytes held back while frozen, per connection, and whether the client hung up after them. */
  private readonly held = new Map<Socket, { chunks: Buffer[]; ended: boolean }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Frozen: by `freeze()`, or by `holdFrom` once its text was sent. */
  get holding(): boolean {
    return this.mode === 'frozen';
  }

  cut(): void {
    this.mode = 'cut';
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  freeze(): void {
    this.mode = 'frozen';
    for (const [client, upstream] of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  /** `text` is matched case-insensitively (clients send command names in either case). */
  holdFrom(text: string): void {
    this.trigger = text.toLowerCase();
  }

  /** Resolves once every held connection whose client hung up has been closed by the server. */
  async heal(): Promise<void> {
    this.mode = 'open';
    const closing: Array<Promise<unknown>> = [];
    for (const [upstream, { chunks, ended }] of this.held) {
      for (const chunk of chunks) upstream.write(chunk);
      if (ended) {
        closing.push(new Promise((resolve) => upstream.once('close', resolve)));
        upstream.end();
      }
    }
    this.held.clear();
    for (const [client, upstream] of this.pairs) {
      client.resume();
      upstream.resume();
    }
    await Promise.all(closing);
  }

  private heldFor(upstream: Socket): { chunks: Buffer[]; ended: boolean } {
    let held = this.held.get(upstream);
    if (held === undefined) this.held.set(upstream, (held = { chunks: [], ended: false }));
    return held;
  }

  async close(): Promise<void> {
    this.held.clear();
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    if (this.mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = createConnection({ port: targetPort, host: '127.0.0.1' });
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (this.trigger !== undefined && chunk.toString('latin1').toLowerCase().includes(this.trigger)) {
        this.trigger = undefined;
        this.freeze();
      }
      if (this.mode === 'frozen') this.heldFor(upstream).chunks.push(chunk);
      else upstream.write(chunk);
    });
    upstream.pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', drop).on('close', () => {
      const held = this.held.get(upstream);
      if (held === undefined) return drop();
      // The client is gone but its bytes are still "in the network": deliver them on heal().
      held.ended = true;
      this.pairs.delete(pair);
    });
    upstream.on('error', drop).on('close', drop);
    if (this.mode === 'frozen') {
      client.pause();
      upstream.pause();
    }
  }
}
