import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { TestCa } from '../helpers/pki.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');

/** Runs `tollgate serve` on a config; resolves with its exit code and stderr, or 'still running' after `ms`. */
function serve(config: object, ms = 10_000): Promise<{ code: number | null | 'still running'; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-start-'));
  const path = join(dir, 'tollgate.yaml');
  writeFileSync(path, stringify({ shutdown: { notServingSeconds: 0, drainSeconds: 1 }, ...config }));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: 'still running', stderr });
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('a start that fails partway', () => {
  let holder: Server;
  let held: string;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    held = `127.0.0.1:${(holder.address() as AddressInfo).port}`;
  });
  afterAll(() => holder?.close());

  it.each(['grpc', 'authz', 'http'])(
    'closes everything and exits 1 when listen.%s is in use, naming the field and the address',
    async (field) => {
      const listen = { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0', [field]: held };
      const { code, stderr } = await serve({ listen });
      expect(code).toBe(1);
      // The last line, the one an operator reads first, names the field and the address.
      expect(stderr.trim().split('\n').at(-1)).toBe(
        `tollgate: listen.${field}: cannot listen on ${held}: the address is already in use (another process holds it)`,
      );
    },
  );

  it('exits 2 (a config error) on a certificate pair that cannot serve', async () => {
    const ca = new TestCa();
    try {
      const weak = ca.issue('spiffe://test.local/ns/authz/sa/tollgate', { rsaBits: 1024 });
      const certFile = join(ca.dir, 'weak.crt');
      const keyFile = join(ca.dir, 'weak.key');
      writeFileSync(certFile, weak.cert);
      writeFileSync(keyFile, weak.key);
      const { code, stderr } = await serve({
        listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0', httpTls: { certFile, keyFile } },
      });
      expect(code).toBe(2);
      expect(stderr).toContain('config: listen.httpTls: the pair cannot serve TLS: ee key too small');
    } finally {
      ca.remove();
    }
  });
});
