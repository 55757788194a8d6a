import { z } from 'zod';
import type { RolesAnswer } from './cache.js';
import { URL_PLACEHOLDERS, type ContextSourceConfig } from './config.js';

/** An answer larger than this is refused: it cannot be a role list, and it would crowd the cache. */
const MAX_ANSWER_BYTES = 64 * 1024;

const answerSchema = z.object({ roles: z.array(z.string().max(256)).max(1000) });

export type FailureCause = 'timeout' | 'network' | 'status' | 'answer' | 'url';

type UrlValues = Readonly<Record<(typeof URL_PLACEHOLDERS)[number], string>>;

const PLACEHOLDER = new RegExp(`\\{(${URL_PLACEHOLDERS.join('|')})\\}`, 'g');

/**
 * Fills the placeholders, each value percent-encoded, so a value cannot change the URL's shape: `/`,
 * `?`, `#` and `%` are escaped by encodeURIComponent. Dot segments are the one shape it leaves: a value
 * `..` filling a path segment would make the URL parser (and any proxy that normalises paths) ask
 * another resource. No encoding prevents that — fetch's WHATWG parser and Envoy's `normalize_path`
 * both read `%2E` as `.` — so such a URL is refused (undefined) and the lookup fails (the rule
 * denies). A value the encoder cannot represent (a lone surrogate) is refused the same way.
 */
export function sourceUrl(template: string, values: UrlValues): string | undefined {
  let url: string;
  try {
    url = template.replace(PLACEHOLDER, (_match, name: keyof UrlValues) => encodeURIComponent(values[name]));
  } catch {
    return undefined;
  }
  return hasDotSegment(url) ? undefined : url;
}

/** A `.` or `..` segment in the path (before `?` or `#`); the template's own are refused by the config. */
function hasDotSegment(url: string): boolean {
  const path = url.replace(/^https?:\/\/[^/?#]*/, '').split(/[?#]/, 1)[0] ?? '';
  return path.split('/').some((segment) => segment === '.' || segment === '..');
}

/**
 * One GET to the domain service. Anything but a 2xx with `{"roles": [strings]}` within the timeout is a
 * failure; the caller denies on it.
 */
export async function fetchRoles(
  config: ContextSourceConfig['http'],
  values: UrlValues,
): Promise<RolesAnswer & { cause?: FailureCause; status?: number }> {
  const url = sourceUrl(config.url, values);
  if (url === undefined) return { ok: false, cause: 'url' };
  let response: Response;
  const signal = AbortSignal.timeout(config.timeoutMs);
  try {
    response = await fetch(url, {
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
