/**
 * YAML for tollgate's own files (the config, policy test cases). js-yaml: a policy of 10,000 rules is a
 * few megabytes, which it reads in a few hundred milliseconds (the `yaml` package's document model took
 * seconds, past the 2 s a start or reload may take). The core schema: `2026-01-01` stays a string, and
 * `<<` is an ordinary key (so the config schema refuses it) rather than a merge that hides keys.
 * Duplicate keys are an error, never "last one wins". Aliases are read as js-yaml gives them, the named
 * node itself, shared; an alias inside the node it names (a document without end) is an error.
 */
import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';
import { intern } from './intern.js';

export type YamlRead = { ok: true; value: unknown } | { ok: false; message: string };

export function readYaml(text: string): YamlRead {
  try {
    return { ok: true, value: internStrings(load(text, { schema: CORE_SCHEMA }), new Set(), new Set()) };
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const where = err.mark ? ` at line ${err.mark.line + 1}, column ${err.mark.column + 1}` : '';
    return { ok: false, message: `${err.reason}${where}` };
  }
}

/**
 * Replaces every string of a parsed document, in place, by its shared copy (see `intern`): a config lives
 * as long as it is served, and as read its longer strings are slices that keep the file's whole text
 * alive (3.3 MB for 10,000 rules), its short ones a copy each (10,000 of "GET").
 *
 * A node that aliases name is one object in several places, so each object is walked once (`done`):
 * walked along every path, a few hundred bytes of aliases naming aliases would take billions of steps,
 * which js-yaml itself spares. An object met again while it is being walked (`open`) contains an alias
 * of itself, and is refused.
 */
function internStrings(value: unknown, open: Set<object>, done: Set<object>): unknown {
  if (typeof value === 'string') return intern(value);
  if (value === null || typeof value !== 'object' || done.has(value)) return value;
  if (open.has(value)) throw new YAMLException('an alias refers to a node that contains it, which makes the document endless');
  open.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = internStrings(value[i], open, done);
  } else {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = internStrings(record[key], open, done);
  }
  open.delete(value);
  done.add(value);
  return value;
}
