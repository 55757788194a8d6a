/**
 * YAML for tollgate's own files (the config, policy test cases). js-yaml: a policy of 10,000 rules is a
 * few megabytes, which it reads in a few hundred milliseconds (the `yaml` package's document model took
 * seconds, past the 2 s a start or reload may take). The core schema: `2026-01-01` stays a string, and
 * `<<` is an ordinary key (so the config schema refuses it) rather than a merge that hides keys.
 * Duplicate keys are an error, never "last one wins".
 */
import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';
import { intern } from './intern.js';

export type YamlRead = { ok: true; value: unknown } | { ok: false; message: string };

export function readYaml(text: string): YamlRead {
  try {
    return { ok: true, value: internStrings(load(text, { schema: CORE_SCHEMA })) };
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
 */
function internStrings(value: unknown): unknown {
  if (typeof value === 'string') return intern(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = internStrings(value[i]);
  } else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = internStrings(record[key]);
  }
  return value;
}
