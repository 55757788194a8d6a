import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/** How long a burst of events is gathered into one call (an editor's save, a ConfigMap swap). */
const DEBOUNCE_MS = 100;

/**
 * Calls `onChange` when `path` may have changed. Watches the DIRECTORY, not the file: Kubernetes
 * updates a mounted ConfigMap by swapping the `..data` symlink in the parent directory, which a watch
 * on the file itself (bound to the old inode) never sees. Only events naming the file or kubelet's
 * `..data` entries count: other files in the directory (tollgate's own log, say) are not a reason to
 * re-read, and reacting to them made a log line in the same directory trigger the next one.
 * Returns the function that stops watching.
 */
export function watchFile(path: string, onChange: () => void, onError: (err: Error) => void): () => void {
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  // persistent: false — a watcher alone must not keep the process alive.
  const watcher = watch(dirname(path), { persistent: false }, (_event, entry) => {
    // Some platforms do not name the entry; then any event may be ours.
    if (entry !== null && entry !== name && !entry.startsWith('..data')) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, DEBOUNCE_MS);
    timer.unref();
  });
  watcher.on('error', onError);
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
