/**
 * Envoy's `X-Forwarded-Client-Cert` (XFCC): the proxy's account of the client certificate it verified.
 * The value is a comma-separated list of elements, one per proxy hop, each a `;`-separated list of
 * `Key=Value` pairs (By, Hash, Cert, Chain, Subject, URI, DNS); a value holding `,` `;` or `=` is
 * double-quoted, with `\"` and `\\` escaped inside the quotes.
 */

/** The peer fields of one XFCC element, in the shape Envoy's `source` uses. */
export interface ForwardedPeer {
  /** The element's first `URI=` (the certificate's URI SAN, e.g. a SPIFFE ID). */
  principal?: string;
  /** The element's `Cert=`: the URL-encoded PEM, as `source.certificate` carries it. */
  certificate?: string;
}

/**
 * The peer described by the LAST element: the one the proxy that called tollgate added for its own
 * downstream connection. Earlier elements come from hops further out (or from the client itself, with
 * `APPEND_FORWARD` in front of an untrusting edge) and are never used. A malformed header yields no
 * peer: no workload identity, which `peer` rules deny.
 */
export function peerFromXfcc(values: readonly string[]): ForwardedPeer {
  const elements = parseXfcc(values.join(','));
  const last = elements?.at(-1);
  if (!last) return {};
  const pick = (key: string) => last.find(([k]) => k === key)?.[1] || undefined;
  return { principal: pick('uri'), certificate: pick('cert') };
}

type Element = Array<[key: string, value: string]>;

/** Parses the whole header; undefined when any part of it is malformed. Keys are lower-cased. */
export function parseXfcc(header: string): Element[] | undefined {
  const elements: Element[] = [];
  let element: Element = [];
  let i = 0;
  while (i < header.length) {
    const eq = header.indexOf('=', i);
    if (eq === -1) return undefined;
    const key = header.slice(i, eq).trim().toLowerCase();
    if (!/^[a-z]+$/.test(key)) return undefined;
    i = eq + 1;
    let value: string;
    if (header[i] === '"') {
      const quoted = readQuoted(header, i);
      if (!quoted) return undefined;
      value = quoted.value;
      i = quoted.end;
    } else {
      let end = i;
      while (end < header.length && header[end] !== ';' && header[end] !== ',') end++;
      value = header.slice(i, end).trim();
      if (value.includes('"') || value.includes('=')) return undefined;
      i = end;
    }
    element.push([key, value]);
    while (header[i] === ' ') i++;
    if (i >= header.length) break;
    if (header[i] === ',') {
      elements.push(element);
      element = [];
    } else if (header[i] !== ';') {
      return undefined;
    }
    i++;
    while (header[i] === ' ') i++;
    if (i >= header.length) return undefined; // a trailing separator
  }
  if (element.length === 0) return undefined; // an empty header
  elements.push(element);
  return elements;
}

function readQuoted(text: string, open: number): { value: string; end: number } | undefined {
  let value = '';
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      const next = text[i + 1];
      if (next !== '"' && next !== '\\') return undefined;
      value += next;
      i++;
    } else if (c === '"') {
      return { value, end: i + 1 };
    } else {
      value += c;
    }
  }
  return undefined; // unterminated
}
