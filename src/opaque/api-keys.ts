import { timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Deps } from '../observability/deps.js';
import { watchFile } from '../util/file-watch.js';
import { repeatLimiter } from '../util/repeat-limiter.js';
import { parseApiKeyFile, type ApiKey } from './api-key-file.js';
import { opaqueMetricsOf } from './metrics.js';

/** An API key file larger than this is refused: it is a list of hashes, not a database. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Bytes of a digest that choose its bucket; the whole digest is then compared in constant time. */
const BUCKET_BYTES = 8;

type ApiKeyLookup = ApiKey | 'unknown' | 'expired';

/**
 * One provider's API keys, from a file watched as `jwks.file` is (the directory, so a ConfigMap's
 * symlink swap is seen). A file that does not parse is refused and the last good one kept; before any
 * good load no key is accepted. Keys are found by the SHA-256 of what the client sent: a bucket by the
 * first bytes of the digest, then a constant-time comparison of the whole digest, so the time a lookup
 * takes says nothing about how close a guess came.
 */
export class ApiKeyStore {
  private buckets = new Map<string, ApiKey[]>();
  private text: string | undefined;
  private unwatch: (() => void) | undefined;
  private readonly log;
  private readonly metrics;
  private readonly limitRepeats;

  constructor(
    private readonly provider: string,
    private readonly path: string,
    private readonly deps: Deps,
  ) {
    this.log = deps.logger.child({ component: 'api-keys', provider });
    this.metrics = opaqueMetricsOf(deps.registry);
    this.limitRepeats = repeatLimiter(deps.clock);
  }

  /** First load, then the watch. Resolves after the first attempt, whether it succeeded or not. */
  async start(): Promise<void> {
    if (this.unwatch) return;
    const unseen = 'changes are not seen until a config reload';
    try {
      this.unwatch = watchFile(
        this.path,
        () => void this.load(),
        (err) => this.log.warn({ err: err.message }, `api keys: file watch failed; ${unseen}`),
      );
    } catch (err) {
      // A missing directory must not stop the server: the keys are refused, as for a missing file.
      this.unwatch = () => {};
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, `api keys: cannot watch the file; ${unseen}`);
    }
    await this.load();
  }

  stop(): void {
    this.unwatch?.();
  }

  /** The key whose SHA-256 is `digest`, or why there is none; expiry is decided on the clock at each lookup. */
  lookup(digest: Buffer): ApiKeyLookup {
    const bucket = this.buckets.get(digest.toString('hex', 0, BUCKET_BYTES));
    const key = bucket?.find((candidate) => timingSafeEqual(candidate.digest, digest));
    if (!key) return 'unknown';
    return key.expiresAtMs !== undefined && this.deps.clock.now() >= key.expiresAtMs ? 'expired' : key;
  }

  get loaded(): boolean {
    return this.text !== undefined;
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      const { size } = await stat(this.path);
      if (size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      this.refuse(err instanceof Error ? err.message : String(err));
      return;
    }
    if (text === this.text) return;
    const parsed = parseApiKeyFile(text);
    if (!parsed.ok) {
      this.refuse(parsed.problem);
      return;
    }
    const buckets = new Map<string, ApiKey[]>();
    for (const key of parsed.keys) {
      const bucket = key.digest.toString('hex', 0, BUCKET_BYTES);
      buckets.set(bucket, [...(buckets.get(bucket) ?? []), key]);
    }
    this.buckets = buckets;
    this.text = text;
    this.metrics.apiKeyLoads.inc({ provider: this.provider, result: 'success' });
    this.metrics.apiKeys.set({ provider: this.provider }, parsed.keys.length);
    this.log.info({ keys: parsed.keys.length, file: this.path }, 'api keys: loaded');
  }

  private refuse(problem: string): void {
    this.metrics.apiKeyLoads.inc({ provider: this.provider, result: 'error' });
    const { log, repeated } = this.limitRepeats(problem);
    if (!log) return;
    const consequence = this.loaded ? 'keeping the last good file' : 'no file loaded yet: every key is refused';
    this.log.warn({ file: this.path, err: problem, ...(repeated ? { repeated } : {}) }, `api keys: file refused; ${consequence}`);
  }
}
