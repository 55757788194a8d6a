import { readFile, stat } from 'node:fs/promises';
import { watchFile } from '../../util/file-watch.js';
import { JwksSourceError } from '../errors.js';
import type { JwksSource } from './source.js';

/**
 * A JWKS on local disk, re-read when the file (or a ConfigMap's `..data` symlink) changes; the manager
 * compares the content, so a no-op event costs one small read.
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
      return watchFile(path, onEvent, onError);
    },
  };
}
