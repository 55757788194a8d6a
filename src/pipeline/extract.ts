import type { ProviderConfig } from '../config/providers.js';
import type { RequestView } from './request.js';

/**
 * One place a token may be carried. `key` identifies it across providers (`header:authorization`).
 * `dpop`: the `Authorization: DPoP` scheme (RFC 9449 §7.1), whose token is accepted only with its proof.
 */
export type TokenLocation =
  | { kind: 'header'; key: string; name: string; prefix: string; dpop?: true }
  | { kind: 'cookie'; key: string; name: string }
  | { kind: 'param'; key: string; name: string };

export type Extraction =
  | { kind: 'none' }
  | { kind: 'token'; token: string; location: TokenLocation }
  /** More than one credential, or one header sent twice: refused rather than guessing which counts. */
  | { kind: 'ambiguous'; description: string };

const DPOP_LOCATION: TokenLocation = {
  kind: 'header',
  key: 'header:authorization dpop',
  name: 'authorization',
  prefix: 'DPoP ',
  dpop: true,
};

/** Every token location any provider names, each once. Compiled at config load. */
export function tokenLocations(providers: readonly ProviderConfig[]): TokenLocation[] {
  const byKey = new Map<string, TokenLocation>();
  for (const p of providers) {
    for (const h of p.fromHeaders) {
      const key = `header:${h.name}` + (h.prefix ? ` ${h.prefix.trim().toLowerCase()}` : '');
      byKey.set(key, { kind: 'header', key, name: h.name, prefix: h.prefix });
    }
    if (p.dpop) byKey.set(DPOP_LOCATION.key, DPOP_LOCATION);
    for (const name of p.fromCookies) byKey.set(`cookie:${name}`, { kind: 'cookie', key: `cookie:${name}`, name });
    for (const name of p.fromParams) byKey.set(`param:${name}`, { kind: 'param', key: `param:${name}`, name });
  }
  return [...byKey.values()];
}

/** Finds the request's token. Exactly one credential or none; anything else is ambiguous. */
export function extractToken(request: RequestView, locations: readonly TokenLocation[]): Extraction {
  let found: { token: string; location: TokenLocation } | undefined;
  for (const location of locations) {
    const values = valuesAt(request, location);
    if (values.length === 0) continue;
    if (values.length > 1 || found) {
      return { kind: 'ambiguous', description: 'more than one token in the request' };
    }
    found = { token: values[0]!, location };
  }
  return found ? { kind: 'token', ...found } : { kind: 'none' };
}

function valuesAt(request: RequestView, location: TokenLocation): string[] {
  switch (location.kind) {
    case 'header':
      return headerTokens(request.headers.get(location.name) ?? [], location.prefix);
    case 'cookie':
      return cookieValues(request.headers.get('cookie') ?? [], location.name);
    case 'param':
      return paramValues(request.path, location.name);
  }
}

function headerTokens(values: readonly string[], prefix: string): string[] {
  const tokens: string[] = [];
  const lowerPrefix = prefix.toLowerCase();
  for (const value of values) {
    // Auth schemes are case-insensitive (RFC 9110 §11.1); a value with another scheme is not ours.
    // Only the prefix is lower-cased: a copy of the whole value (the token) would be garbage per Check.
    if (value.slice(0, prefix.length).toLowerCase() !== lowerPrefix) continue;
    const token = value.slice(prefix.length);
    // Envoy's `headers` map joins repeated headers with ",", which never occurs inside a JWT.
    if (token.includes(',')) return ['', ''];
    tokens.push(token);
  }
  return tokens;
}

function cookieValues(headers: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (const header of headers) {
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim() === name) values.push(pair.slice(eq + 1).trim());
    }
  }
  return values;
}

function paramValues(path: string, name: string): string[] {
  const q = path.indexOf('?');
  if (q < 0) return [];
  const hash = path.indexOf('#', q);
  return new URLSearchParams(path.slice(q + 1, hash < 0 ? undefined : hash)).getAll(name);
}
