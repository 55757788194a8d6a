import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdminHandler, type HttpHandler } from '../../src/admin/index.js';
import { createRevocationStore, parseRevocationConfig, type RevocationStore } from '../../src/revocation/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { capturingDeps } from '../revocation/helpers.js';

export const SECRET = 'correct-horse-battery-staple-7f3a9c';
export const T0 = Date.UTC(2025, 0, 31, 12, 0, 0);

export interface AdminFixture {
  url: string;
  store: RevocationStore;
  clock: ManualClock;
  lines: string[];
  dir: string;
  tokenFile: string;
  close(): Promise<void>;
}

/** A real node:http server on 127.0.0.1:0 whose only handler is the admin API, like the lead's server. */
export async function startAdmin(wrap: (store: RevocationStore) => RevocationStore = (store) => store): Promise<AdminFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-admin-'));
  const tokenFile = join(dir, 'admin-token');
  writeFileSync(tokenFile, `${SECRET}\n`);
  const clock = new ManualClock(T0);
  const { deps, lines } = capturingDeps(clock);
  const store = createRevocationStore(parseRevocationConfig({ store: 'memory', defaultTtlSeconds: 3600 }), deps);
  await store.start();
  const handler: HttpHandler = createAdminHandler({ store: wrap(store), admin: { tokenFile }, deps });
  const server: Server = createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not handled by admin');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    clock,
    lines,
    dir,
    tokenFile,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
