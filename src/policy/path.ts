/**
 * Request path normalization and path templates.
 *
 * Every decision is taken on ONE canonical form of the path, computed once per request. The canonical
 * form is chosen so that two spellings a server could treat as the same resource get the same form
 * (`/%61dmin`, `/admin/`, `//admin`, `/x/../admin` are all `/admin`), and spellings that servers
 * disagree about are rejected instead of guessed (`%2F`, `\`, `;`, `//..`): a guess is exactly the
 * gap a path-confusion attack uses to reach a permissive rule while the upstream serves a strict one.
 */

import { SharedValues, intern } from '../util/intern.js';

export type NormalizedPath = { ok: true; path: string; segments: readonly string[] } | { ok: false; reason: string };

const HEX = '0123456789ABCDEF';

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

/**
 * Characters allowed raw in a path segment and decoded when percent-encoded: RFC 3986 pchar minus
 * "%" and ";" (unreserved, sub-delims, ":" and "@").
 */
function isRawSegmentChar(code: number): boolean {
  return (
    isUnreserved(code) ||
    code === 0x21 || // !
    code === 0x24 || // $
    (code >= 0x26 && code <= 0x2c) || // & ' ( ) * + ,
    code === 0x3d || // =
    code === 0x3a || // :
    code === 0x40 // @
  );
}

function invalid(reason: string): NormalizedPath {
  return { ok: false, reason };
}

/**
 * Canonical form of a raw `:path`:
 * - the query (`?…`) and fragment (`#…`) are cut off; matching never looks at them;
 * - the path must start with `/`;
 * - a percent-encoded character that may also appear raw in a segment is decoded: the unreserved ones
 *   (`%41` → `A`, `%2e` → `.`) and also sub-delims, `:` and `@` (`%3A` → `:`). Decoding only the
 *   unreserved ones (RFC 3986 §6.2.2.2) would let `/v1/jobs%3Acancel` miss a strict `/v1/jobs:cancel`
 *   rule while most servers decode it to the same route. Every other encoding is kept with upper-case
 *   hex (`%c3%a9` → `%C3%A9`, `%3b` → `%3B`), and raw characters RFC 3986 does not allow in a path
 *   (non-ASCII, space, `"<>[]^{|}` and backquote) are percent-encoded as UTF-8, so each resource has
 *   exactly one spelling;
 * - `.` and `..` are resolved (RFC 3986 §5.2.4), then empty segments are dropped (`//` merges, a
 *   trailing `/` is ignored).
 *
 * Rejected (the reason is for logs and `tollgate check`, never a guess at intent):
 * encoded `/` (`%2F`) or `\` (`%5C`), a raw `\`, NUL or any control character, malformed `%`, `;`
 * (Tomcat, Jetty and Spring strip `;params` from segments, others do not), a `..` that would remove an
 * empty segment (`/a//../b` is `/a/b` by RFC 3986 but `/b` after slash merging), and `..` above the root.
 */
export function normalizePath(raw: string): NormalizedPath {
  let end = raw.length;
  const query = raw.indexOf('?');
  if (query !== -1) end = query;
  const fragment = raw.indexOf('#');
  if (fragment !== -1 && fragment < end) end = fragment;

  if (raw.charCodeAt(0) !== 0x2f) return invalid('path must start with /');

  // Segments as RFC 3986 resolves them, empty ones included; merged (empties dropped) at the end. A ".."
  // that would remove an empty segment is where RFC resolution and slash merging part ways.
  const stack: string[] = [];
  let segment = '';

  for (let i = 1; i <= end; i++) {
    const code = i === end ? 0x2f : raw.charCodeAt(i);
    if (code === 0x2f) {
      if (segment === '..') {
        if (stack.length === 0) return invalid('path escapes the root with ".."');
        if (stack[stack.length - 1] === '') return invalid('ambiguous ".." after "//" in path');
        stack.pop();
      } else if (segment !== '.') {
        stack.push(segment);
      }
      segment = '';
      continue;
    }
    if (code === 0x25) {
      const hi = i + 2 < end ? hexValue(raw.charCodeAt(i + 1)) : -1;
      const lo = hi === -1 ? -1 : hexValue(raw.charCodeAt(i + 2));
      if (lo === -1) return invalid('malformed percent-encoding');
      const byte = hi * 16 + lo;
      if (byte === 0x2f) return invalid('encoded "/" (%2F) in path');
      if (byte === 0x5c) return invalid('encoded "\\" (%5C) in path');
      if (byte === 0x00) return invalid('encoded NUL (%00) in path');
      segment += isRawSegmentChar(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`;
      i += 2;
      continue;
    }
    if (isRawSegmentChar(code)) {
      segment += raw[i];
      continue;
    }
    if (code === 0x5c) return invalid('backslash in path');
    if (code === 0x3b) return invalid('";" (path parameter) in path');
    if (code < 0x20 || code === 0x7f) return invalid('control character in path');
    // Anything else is legal only percent-encoded: encode it the one canonical way.
    const point = raw.codePointAt(i) ?? code;
    const char = String.fromCodePoint(point);
    try {
      segment += encodeURIComponent(char);
    } catch {
      return invalid('lone surrogate in path');
    }
    i += char.length - 1;
  }

  const segments = stack.filter((s) => s !== '');
  return { ok: true, path: `/${segments.join('/')}`, segments };
}

/** `*` in a template: any one segment. One value shared by every template. */
const ANY_SEGMENT = Symbol('*');
/** A final `**`: the rest of the path, zero or more segments. */
const REST = Symbol('**');

/** A `{name}` segment of a template: one object per name, shared by every template (see `paramSegment`). */
interface ParamSegment {
  readonly param: string;
}

/**
 * One compiled template segment: a literal is its canonical text, a parameter its shared ParamSegment,
 * `*` ANY_SEGMENT and a final `**` REST. No object of its own per segment: a policy of 10,000 rules
 * holds tens of thousands of them.
 */
export type TemplateSegment = string | ParamSegment | typeof ANY_SEGMENT | typeof REST;

/**
 * A path template compiled once: its segments, REST only as the last. The array is the whole template,
 * without its source text: a 10,000-rule policy kept 1.2 MB of sources only for explanations, which
 * `templateText` writes from the segments.
 */
export type PathTemplate = readonly TemplateSegment[];

const paramSegments = new SharedValues<ParamSegment>();

function paramSegment(name: string): ParamSegment {
  return paramSegments.of(name, () => Object.freeze({ param: intern(name) }));
}

function isParam(segment: TemplateSegment): segment is ParamSegment {
  return typeof segment === 'object';
}

/** The template as text, literal segments in their canonical form: `/caf%C3%A9/{id}/**`. */
export function templateText(template: PathTemplate): string {
  const text = (segment: TemplateSegment) =>
    segment === ANY_SEGMENT ? '*' : segment === REST ? '**' : isParam(segment) ? `{${segment.param}}` : segment;
  return `/${template.map(text).join('/')}`;
}

/** The template's parameter names, in order. */
export function templateParams(template: PathTemplate): string[] {
  return template.filter(isParam).map((segment) => segment.param);
}

/** The literal segments a template starts with, before its first `{param}`, `*` or `**`. */
export function literalPrefix(template: PathTemplate): string[] {
  const end = template.findIndex((segment) => typeof segment !== 'string');
  return template.slice(0, end === -1 ? undefined : end) as string[];
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses `/courses/{courseId}/grades`, `/docs/**`, `/a/* /b` (no space). A parameter and `*` match
 * exactly one non-empty segment; a final `**` matches zero or more segments, so `/admin/**` also covers
 * `/admin` itself — otherwise `/admin` would fall through to a later, possibly public, rule. Literal
 * segments are put into the same canonical form as request paths, so `/caf%C3%A9` and `/café` are one
 * template. Returns a message naming the problem and its fix on error.
 */
export function parseTemplate(source: string): { ok: true; template: PathTemplate } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });
  if (!source.startsWith('/')) return fail(`"${source}" must start with "/"`);
  if (/[?#]/.test(source)) return fail(`"${source}": query strings and fragments are never matched; remove them`);
  if (source === '/') return { ok: true, template: [] };

  const parts = source.slice(1).split('/');
  const segments: TemplateSegment[] = [];
  const params: string[] = [];
  for (const [index, part] of parts.entries()) {
    if (segments.at(-1) === REST) return fail(`"${source}": "**" must be the last segment`);
    if (part === '') {
      return fail(
        index === parts.length - 1
          ? `"${source}": remove the trailing "/" (trailing slashes are ignored when matching)`
          : `"${source}": empty segment "//"; write single slashes`,
      );
    }
    if (part === '**') {
      segments.push(REST);
      continue;
    }
    if (part === '*') {
      segments.push(ANY_SEGMENT);
      continue;
    }
    if (part.startsWith('{') && part.endsWith('}')) {
      const name = part.slice(1, -1);
      if (!PARAM_NAME.test(name)) return fail(`"${source}": parameter name "${name}" must be letters, digits or "_", e.g. {courseId}`);
      if (params.includes(name)) return fail(`"${source}": parameter {${name}} appears twice; give each parameter its own name`);
      params.push(name);
      segments.push(paramSegment(name));
      continue;
    }
    if (/[{}]/.test(part)) {
      return fail(`"${source}": "${part}" is not a parameter; a parameter fills a whole segment and is closed, e.g. /files/{name}`);
    }
    if (part.includes('*')) return fail(`"${source}": "*" matches one whole segment and "**" the rest; "${part}" mixes "*" with text`);
    // Behind a placeholder segment, "." and ".." (in any spelling) show up as a missing segment.
    const canonical = normalizePath(`/_/${part}`);
    if (!canonical.ok) return fail(`"${source}": segment "${part}": ${canonical.reason}`);
    if (canonical.segments.length !== 2) return fail(`"${source}": "." and ".." segments are not allowed in templates`);
    segments.push(intern(canonical.segments[1] as string));
  }
  // A copy of its exact length: an array grown by push keeps room for 17 entries.
  return { ok: true, template: segments.slice() };
}

/**
 * Matches normalized segments against a template; on success writes the parameters (percent-decoded,
 * since the token's ids are plain text) into `params` and returns true. Segment-by-segment comparison:
 * no regular expressions, no backtracking, cost bounded by the template length.
 */
export function matchTemplate(template: PathTemplate, segments: readonly string[], params: Record<string, string>): boolean {
  const rest = template.at(-1) === REST;
  const count = rest ? template.length - 1 : template.length;
  if (rest ? segments.length < count : segments.length !== count) return false;
  let bindsParams = false;
  for (let i = 0; i < count; i++) {
    const t = template[i]!;
    if (isParam(t)) bindsParams = true;
    else if (t !== ANY_SEGMENT && t !== segments[i]) return false;
  }
  if (bindsParams) {
    for (let i = 0; i < count; i++) {
      const t = template[i]!;
      if (isParam(t)) params[t.param] = decodeSegment(segments[i]!);
    }
  }
  return true;
}

/** Normalized segments keep only non-unreserved encodings; %2F, %5C and %00 were rejected earlier. */
function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // not UTF-8: keep the encoded form, which no token id will equal
  }
}
