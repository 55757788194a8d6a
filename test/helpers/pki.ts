import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import type { ChannelOptions } from '@grpc/grpc-js';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Channel options of a gRPC client over TLS to a test server on 127.0.0.1: the server name is
 * `localhost` (every test leaf names it), because Node 26 refuses an IP address as TLS server name.
 */
export const TLS_CHANNEL_OPTIONS: ChannelOptions = { 'grpc.ssl_target_name_override': 'localhost' };

export interface IssuedPair {
  cert: string;
  key: string;
  serial: string;
}

/**
 * A test certificate authority made with the openssl command line: P-256 keys, a CA certificate and
 * leaf certificates with SPIFFE URI SANs (and localhost/127.0.0.1 for servers), as cert-manager or
 * SPIRE would issue them.
 */
export class TestCa {
  readonly dir = mkdtempSync(join(tmpdir(), 'tollgate-pki-'));
  readonly cert: string;
  private readonly keyPath: string;
  private issued = 0;

  constructor(name = 'tollgate test CA', days = 30) {
    this.keyPath = join(this.dir, 'ca.key');
    const certPath = join(this.dir, 'ca.crt');
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      this.keyPath,
      '-out',
      certPath,
      '-subj',
      `/CN=${name}`,
      '-days',
      String(days),
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    this.cert = readFileSync(certPath, 'utf8');
  }

  /**
   * A leaf for `spiffeId`, valid from now for `days`, usable as server and client certificate. With
   * `rsaBits` its key is RSA of that size instead of P-256 (1024: a pair OpenSSL refuses to serve).
   * `spiffeId` null: a certificate with DNS and IP SANs only, no URI SAN (no workload identity).
   */
  issue(spiffeId: string | null, { days = 1, rsaBits }: { days?: number; rsaBits?: number } = {}): IssuedPair {
    const n = ++this.issued;
    const base = join(this.dir, `leaf-${n}`);
    writeFileSync(
      `${base}.ext`,
      `subjectAltName=${spiffeId === null ? '' : `URI:${spiffeId},`}DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n`,
    );
    openssl([
      'req',
      '-new',
      '-newkey',
      ...(rsaBits === undefined ? ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : [`rsa:${rsaBits}`]),
      '-nodes',
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
      '-subj',
      `/CN=leaf-${n}`,
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      join(this.dir, 'ca.crt'),
      '-CAkey',
      this.keyPath,
      '-set_serial',
      String(1000 + n),
      '-days',
      String(days),
      '-extfile',
      `${base}.ext`,
      '-out',
      `${base}.crt`,
    ]);
    const cert = readFileSync(`${base}.crt`, 'utf8');
    return { cert, key: readFileSync(`${base}.key`, 'utf8'), serial: new X509Certificate(cert).serialNumber };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A directory laid out like a mounted Kubernetes Secret: each file is a symlink into `..data`, itself
 * a symlink to a timestamped directory that an update replaces atomically (one rename).
 */
export class SecretDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'tollgate-secret-'));
  private version = 0;

  constructor(files: Record<string, string>) {
    this.update(files);
    for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(this.dir, name));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  update(files: Record<string, string>): void {
    const version = `..v${++this.version}`;
    mkdirSync(join(this.dir, version));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, version, name), content);
    symlinkSync(version, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
