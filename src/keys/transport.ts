import { isIPv4 } from 'node:net';

/** Loopback hosts may use plain http: traffic never leaves the machine (a sidecar IdP, tests). */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true;
  return isIPv4(hostname) && hostname.startsWith('127.');
}

/**
 * Why `url` may not be used to fetch keys, or undefined when it may. Keys fetched over plain http
 * can be swapped by anyone on the path, which makes every signature check meaningless.
 */
export function transportProblem(url: string, allowInsecureHttp: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute https URL';
  }
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:' && (allowInsecureHttp || isLoopbackHost(parsed.hostname))) return undefined;
  return 'must be an https URL (plain http is allowed only for loopback hosts or with allowInsecureHttp: true)';
}

/** A URL for messages: no userinfo, query or fragment, which may carry credentials. */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
