import { distance as levenshtein } from 'fastest-levenshtein';
import type { z } from 'zod';

/**
 * Turns zod's issues into one message per real mistake, in the config's own words: a misspelt key
 * gets a did-you-mean (and not also "required" for the key it was meant to be, nor the object's own
 * rules failing because of it); a missing or mistyped field says what it should be, with an example,
 * instead of "Invalid input: expected array, received undefined".
 */
export function explainIssues(issues: readonly z.core.$ZodIssue[], schema: z.ZodType): Array<{ path: PropertyKey[]; message: string }> {
  const out: Array<{ path: PropertyKey[]; message: string }> = [];
  const key = (path: readonly PropertyKey[]) => path.map(String).join('\u0000');
  /** Objects with a misspelt key, and the fields those misspellings stand for. */
  const objectsWithUnknownKeys = new Set<string>();
  const meant = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    objectsWithUnknownKeys.add(key(issue.path));
    const known = knownKeys(schema, issue.path);
    for (const unknown of issue.keys) {
      const suggestion = closest(unknown, known);
      if (suggestion) meant.add(key([...issue.path, suggestion]));
      const hint = suggestion ? `did you mean "${suggestion}"?` : known.length > 0 ? `known fields here: ${known.join(', ')}` : 'remove it';
      out.push({ path: [...issue.path, unknown], message: `unknown field; ${hint}` });
    }
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') continue;
    if (meant.has(key(issue.path))) continue; // "required" for the field a misspelt key stands for
    if (issue.code === 'custom' && objectsWithUnknownKeys.has(key(issue.path))) continue; // the object's rules, failing for the same reason
    out.push({ path: [...issue.path], message: messageFor(issue) });
  }
  return out;
}

const SHAPES: Record<string, string> = {
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping of fields',
};

/** Examples for the fields a first config most often gets wrong. */
const EXAMPLES: Record<string, string> = {
  audiences: '[api]',
  algorithms: '[RS256, ES256]',
  issuer: 'https://idp.example.com',
  grpc: '0.0.0.0:9001',
  http: '0.0.0.0:9002',
  paths: '["/api/**"]',
  methods: '[GET, POST]',
  strip: '[x-user-, x-auth-]',
  jwks: '{ uri: https://idp.example.com/jwks.json } (or file: keys/jwks.json, or discovery: true)',
  rules: '[{ id: api, match: { paths: ["/**"] }, require: { authenticated: true } }]',
  providers:
    '[{ name: idp, issuer: https://idp.example.com, audiences: [api], algorithms: [RS256], jwks: { uri: https://idp.example.com/jwks.json } }]',
};

/** zod's own wording, which says nothing about the config; a schema's own message is kept as written. */
const LIBRARY_WORDING = /^(Invalid input|Invalid option|Invalid literal|Expected|Too (small|big))/;

function messageFor(issue: z.core.$ZodIssue): string {
  if (!LIBRARY_WORDING.test(issue.message)) return issue.message;
  const field = String(issue.path.at(-1) ?? '');
  const example = EXAMPLES[field] ? `, e.g. ${EXAMPLES[field]}` : '';
  switch (issue.code) {
    case 'invalid_type': {
      const shape = SHAPES[issue.expected] ?? issue.expected;
      if (!('input' in issue) || issue.input === undefined) return `required: ${shape}${example}`;
      return `must be ${shape}${example}; found ${describe(issue.input)}`;
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => String(v));
      const suggestion = typeof issue.input === 'string' ? closest(issue.input, allowed) : undefined;
      return `must be ${allowed.length === 1 ? allowed[0] : `one of ${allowed.join(', ')}`}${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
    }
    case 'too_small':
    case 'too_big': {
      const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const least = issue.code === 'too_small';
      if (issue.origin === 'array') return `list at ${least ? 'least' : 'most'} ${bound} ${bound === 1 ? 'entry' : 'entries'}${example}`;
      if (issue.origin === 'string')
        return least && bound === 1 ? 'must not be empty' : `must be at ${least ? 'least' : 'most'} ${bound} characters long`;
      const exclusive = issue.inclusive === false;
      return `must be ${least ? (exclusive ? 'more than' : 'at least') : exclusive ? 'less than' : 'at most'} ${bound}`;
    }
    default:
      return issue.message;
  }
}

function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return `a ${typeof input}`;
}

/** The field names the schema allows for the object at `path` (none known: []). */
function knownKeys(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let nodes: z.core.$ZodType[] = [schema];
  for (const part of [...path, undefined]) {
    nodes = nodes.flatMap(unwrap);
    if (part === undefined) break;
    nodes = nodes.flatMap((node) => {
      const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
      if (def.type === 'object') {
        const child = (def.shape as Record<string, z.core.$ZodType>)[String(part)];
        return child ? [child] : [];
      }
      if (def.type === 'array') return [def.element as z.core.$ZodType];
      if (def.type === 'record') return [def.valueType as z.core.$ZodType];
      return [];
    });
  }
  const keys = nodes.flatMap((node) => {
    const def = node._zod.def as unknown as { type: string; shape?: Record<string, unknown> };
    return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
  });
  return [...new Set(keys)];
}

/** Wrappers (defaults, optionals, pipes, unions, lazies) down to the schemas that check a value. */
function unwrap(node: z.core.$ZodType): z.core.$ZodType[] {
  const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return unwrap(def.innerType as z.core.$ZodType);
    case 'pipe':
      return unwrap(def.in as z.core.$ZodType);
    case 'lazy':
      return unwrap((def.getter as () => z.core.$ZodType)());
    case 'union':
      return (def.options as z.core.$ZodType[]).flatMap(unwrap);
    case 'intersection':
      return [...unwrap(def.left as z.core.$ZodType), ...unwrap(def.right as z.core.$ZodType)];
    default:
      return [node];
  }
}

/** The candidate within a small edit distance (typos, not different words), or the one it abbreviates. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const abbreviated = candidates.filter((c) => lower.length >= 4 && c.toLowerCase().startsWith(lower));
  if (abbreviated.length === 1) return abbreviated[0];
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  for (const candidate of candidates) {
    const distance = levenshtein(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= bestDistance) {
      best = candidate;
      bestDistance = distance - 1;
    }
  }
  return best;
}
