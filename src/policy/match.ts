/**
 * A rule's `match`, compiled once: host set, method set, path templates, header conditions. Per request
 * it only compares prepared strings; the request is normalized once by the policy, not per rule.
 */
import { PolicyError } from './errors.js';
import { literalPrefix, matchTemplate, parseTemplate, templateParams, templateText, type PathTemplate } from './path.js';
import type { HeaderConditionConfig, MatchConfig } from './schema.js';
import { SharedValues, intern } from '../util/intern.js';

/** The request as every rule sees it: normalized once per request. */
/** A request's headers, one value per name (repeated headers joined with ","). A Map will do. */
export interface HeaderLookup {
  get(name: string): string | undefined;
}

export interface PreparedRequest {
  readonly method: string; // upper-case
  readonly host: string; // lower-case, no port, no trailing dot
  readonly path: string;
  readonly segments: readonly string[];
  readonly headers: HeaderLookup;
  /** Which of the sidecar's listeners asked (`inbound`, `egress`); set by the proxy's config, never by the client. */
  readonly direction: string | undefined;
}

/**
 * A rule's match as data, read by `matches`: a policy of 10,000 rules keeps 10,000 of these, and a
 * record of what the rule configures costs a fraction of a closure with its captured scope. A condition
 * the rule does not configure is undefined. Given empty (rules built in code: the schema refuses empty
 * lists), hosts and methods match nothing, and paths check no path.
 */
export interface CompiledMatch {
  readonly direction: string | undefined;
  /** Shared by every rule with the same methods (see `methodList`). */
  readonly methods: readonly string[] | undefined;
  readonly hosts: HostCondition | undefined;
  readonly headers: readonly HeaderCondition[] | undefined;
  readonly templates: readonly PathTemplate[] | undefined;
}

/** `API.Example.com:8443` → `api.example.com`; `[::1]:80` → `[::1]`; `example.com.` → `example.com`. */
export function normalizeHost(raw: string): string {
  let host = raw.toLowerCase();
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close !== -1) host = host.slice(0, close + 1);
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) host = host.slice(0, colon);
  }
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/**
 * Whether `host` is under a wildcard host's `suffix` (".example.com" for "*.example.com"). As in
 * Envoy's virtual hosts, the wildcard stands for at least one character: ".example.com" is not under
 * it, so a rule never applies to a request that Envoy routes by another virtual host.
 */
function isWildcardMatch(host: string, suffix: string): boolean {
  return host.length > suffix.length && host.endsWith(suffix);
}

type HeaderTest = (value: string | undefined) => boolean;

interface HeaderCondition {
  readonly name: string;
  readonly test: HeaderTest;
  /** The condition as an explanation names it. */
  readonly text: string;
}

function compileHeader(condition: HeaderConditionConfig, fail: (detail: string) => PolicyError): HeaderCondition {
  const name = condition.name.toLowerCase();
  if (name.startsWith(':')) {
    throw fail(`"${condition.name}" is a pseudo-header; use match.paths, match.methods or match.hosts, which see the normalized request`);
  }
  const given = [condition.equals !== undefined, condition.oneOf !== undefined, condition.present !== undefined].filter(Boolean).length;
  if (given !== 1) throw fail(`give exactly one of equals, oneOf or present for header "${condition.name}"`);
  if (condition.equals !== undefined) {
    const expected = condition.equals;
    return { name, test: (v) => v === expected, text: `${name} equals "${expected}"` };
  }
  if (condition.oneOf !== undefined) {
    const allowed = new Set(condition.oneOf);
    return { name, test: (v) => v !== undefined && allowed.has(v), text: `${name} is one of ${condition.oneOf.join(', ')}` };
  }
  const present = condition.present === true;
  return { name, test: (v) => (v !== undefined) === present, text: `${name} is ${present ? 'present' : 'absent'}` };
}

const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/;
const METHOD = /^[A-Z]+$/;

/**
 * Compiles `match`; also returns the parameters every path template binds (what `{name}` references
 * of the rule may use), null without paths. Throws PolicyError naming the field.
 */
export function compileMatch(match: MatchConfig, ruleId: string): { match: CompiledMatch; params: readonly string[] | null } {
  const error = (field: ReadonlyArray<string | number>, detail: string) => new PolicyError(ruleId, ['match', ...field], detail);
  if (!match.hosts && !match.methods && !match.paths && !match.headers && !match.direction) {
    throw error([], 'give at least one of hosts, methods, paths, headers or direction; paths: ["/**"] matches every request');
  }

  // Only what the rule configures is allocated, at its exact size.
  let hosts: HostCondition | undefined;
  if (match.hosts) {
    const exact = new Set<string>();
    const suffixes: string[] = [];
    for (const [i, raw] of match.hosts.entries()) {
      const host = raw.toLowerCase().replace(/\.$/, '');
      if (!HOST.test(host))
        throw error(
          ['hosts', i],
          `"${raw}" is not a host name; write it without scheme, port or path, e.g. api.example.com or *.example.com`,
        );
      if (host.startsWith('*.')) suffixes.push(host.slice(1));
      else exact.add(host);
    }
    hosts = { exact, suffixes: suffixes.slice(), text: match.hosts.join(', ') };
  }

  let methods: readonly string[] | undefined;
  if (match.methods) {
    const given = new Set<string>();
    for (const [i, raw] of match.methods.entries()) {
      const method = raw.toUpperCase();
      if (!METHOD.test(method)) throw error(['methods', i], `"${raw}" is not an HTTP method, e.g. GET`);
      given.add(intern(method));
    }
    // Frameworks route HEAD to GET handlers; a GET-only rule must not let HEAD slip to a later rule.
    if (given.has('GET')) given.add('HEAD');
    methods = methodList([...given]);
  }

  const templates = match.paths?.map((raw, i) => {
    const parsed = parseTemplate(raw);
    if (!parsed.ok) throw error(['paths', i], parsed.message);
    return parsed.template;
  });

  const headers = match.headers?.map((condition, i) => compileHeader(condition, (detail) => error(['headers', i], detail)));

  return {
    match: { direction: match.direction, methods, hosts, headers, templates },
    params: templates && templates.length > 0 ? sharedParams(templates) : null,
  };
}

/** One frozen array per distinct method list: most rules of a large API say GET (GET and HEAD) or POST. */
const methodLists = new SharedValues<readonly string[]>();

function methodList(methods: string[]): readonly string[] {
  return methodLists.of(methods.join(','), () => Object.freeze(methods));
}

interface HostCondition {
  readonly exact: ReadonlySet<string>;
  /** `.example.com` for `*.example.com`. */
  readonly suffixes: readonly string[];
  /** The hosts as configured, for explanations. */
  readonly text: string;
}

/** Whether the request meets every condition of `match`; on a match, writes path parameters into `out`. */
export function matches(match: CompiledMatch, req: PreparedRequest, out: Record<string, string>, explain: string[] | null): boolean {
  const { direction, methods, hosts, headers, templates } = match;
  if (direction !== undefined && req.direction !== direction) {
    explain?.push(`direction ${req.direction ?? '(none)'} is not ${direction}`);
    return false;
  }
  if (methods && !methods.includes(req.method)) {
    explain?.push(`method ${req.method} is not one of ${methods.join(', ')}`);
    return false;
  }
  if (hosts && !hosts.exact.has(req.host) && !hosts.suffixes.some((suffix) => isWildcardMatch(req.host, suffix))) {
    explain?.push(`host "${req.host}" is not one of ${hosts.text}`);
    return false;
  }
  for (const header of headers ?? []) {
    if (!header.test(req.headers.get(header.name))) {
      explain?.push(`header condition "${header.text}" does not hold`);
      return false;
    }
  }
  // Paths last: a template match writes parameters, and only a matching rule may leave them.
  if (templates && templates.length > 0 && !templates.some((template) => matchTemplate(template, req.segments, out))) {
    explain?.push(`path ${req.path} matches none of ${templates.map(templateText).join(', ')}`);
    return false;
  }
  return true;
}

/** Each path template's leading literal segments, for the rule index; null without paths (any path). */
export function literalPrefixes(match: CompiledMatch): string[][] | null {
  return match.templates && match.templates.length > 0 ? match.templates.map(literalPrefix) : null;
}

/** The parameters every template binds: what `{name}` references of the rule may use. */
function sharedParams(templates: readonly PathTemplate[]): readonly string[] {
  const [first, ...others] = templates as [PathTemplate, ...PathTemplate[]];
  return templateParams(first).filter((p) => others.every((t) => templateParams(t).includes(p)));
}
