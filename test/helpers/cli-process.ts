import type { ChildProcess } from 'node:child_process';

/** What the "tollgate serving" log line reports: the bound ports and addresses. */
export interface Serving {
  grpcPort: number;
  httpPort: number;
  grpc: string;
  http: string;
}

/** Waits for a `tollgate serve` child's "tollgate serving" log line; rejects if it exits first. */
export function waitForServing(child: ChildProcess): Promise<Serving> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { msg?: string } & Partial<Serving>;
        if (entry.msg === 'tollgate serving') {
          child.stdout?.off('data', onData);
          resolve({ grpcPort: entry.grpcPort!, httpPort: entry.httpPort!, grpc: entry.grpc!, http: entry.http! });
        }
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`tollgate exited with ${code} before serving: ${out}`)));
  });
}
