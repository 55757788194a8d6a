import { z } from 'zod';
import type { RolesAnswer } from './cache.js';
import type { ContextSourceConfig } from './config.js';

/** An answer larger than this is refused: it cannot be a role list, and it would crowd the cache. */
const MAX_ANSWER_BYTES = 64 * 1024;

const answerSchema = z.object({ roles: z.array(z.string().max(256)).max(1000) });

export type FailureCause = 'timeout' | 'network' | 'status' | 'answer';

/** Fills `{sub}`, `{context}` and `{id}`, each percent-encoded, so a value cannot change the URL's shape. */
export function sourceUrl(template: string, values: { sub: string; context: string; id: string }): string {
  return template.replace(/\{(sub|context|id)\}/g, (_match, name: 'sub' | 'context' | 'id') => encodeURIComponent(values[name]));
}

/**
 * One GET to the domain service. Anything but a 2xx with `{"roles": [strings]}` within the timeout is a
 * failure; the caller denies on it.
 */
export async function fetchRoles(
  config: ContextSourceConfig['http'],
  values: { sub: string; context: string; id: string },
): Promise<RolesAnswer & { cause?: FailureCause; status?: number }> {
  let response: Response;
  const signal = AbortSignal.timeout(config.timeoutMs);
  try {
    response = await fetch(sourceUrl(config.url, values), {
      headers: { accept: 'application/json', ...config.headers },
      redirect: 'error',
      signal,
    });
  } catch {
    return { ok: false, cause: signal.aborted ? 'timeout' : 'network' };
  }
  try {
    if (!response.ok || Number(response.headers.get('content-length') ?? 0) > MAX_ANSWER_BYTES) {
      await response.body?.cancel();
      return response.ok ? { ok: false, cause: 'answer' } : { ok: false, cause: 'status', status: response.status };
    }
    const text = await response.text();
    if (Buffer.byteLength(text) > MAX_ANSWER_BYTES) return { ok: false, cause: 'answer' };
    const parsed = answerSchema.safeParse(JSON.parse(text));
    return parsed.success ? { ok: true, roles: parsed.data.roles } : { ok: false, cause: 'answer' };
  } catch {
    return { ok: false, cause: signal.aborted ? 'timeout' : 'answer' };
  }
}
