import { watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { JwksSourceError } from '../errors.js';
import type { JwksSource } from './source.js';

/**
 * A JWKS on local disk. Watches the DIRECTORY, not the file: Kubernetes updates a mounted ConfigMap
 * by swapping the `..data` symlink in the parent directory, which a watch on the file itself (bound to
 * the old inode) never sees. Any event in the directory leads to a re-read; the manager compares the
 * content, so noise from unrelated files costs one small read.
 */
export function fileSource(path: string, maxBytes: number): JwksSource {
  return {
    description: `file ${path}`,
    remote: false,
    async load() {
      try {
        const { size } = await stat(path);
        if (size > maxBytes) throw new JwksSourceError(`file ${path}: larger than ${maxBytes} bytes`);
        return { text: await readFile(path, 'utf8') };
      } catch (err) {
        if (err instanceof JwksSourceError) throw err;
        throw new JwksSourceError(`file ${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
    watch(onEvent, onError) {
      // persistent: false — a watcher alone must not keep the process alive.
      const watcher = watch(dirname(path), { persistent: false }, () => onEvent());
      watcher.on('error', onError);
      return () => watcher.close();
    },
  };
}
