/**
 * YAML for tollgate's own files (the config, policy test cases). js-yaml: a policy of 10,000 rules is a
 * few megabytes, which it reads in a few hundred milliseconds (the `yaml` package's document model took
 * seconds, past the 2 s a start or reload may take). The core schema: `2026-01-01` stays a string, and
 * `<<` is an ordinary key (so the config schema refuses it) rather than a merge that hides keys.
 * Duplicate keys are an error, never "last one wins".
 */
import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';

export type YamlRead = { ok: true; value: unknown } | { ok: false; message: string };

export function readYaml(text: string): YamlRead {
  try {
    return { ok: true, value: load(text, { schema: CORE_SCHEMA }) };
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const where = err.mark ? ` at line ${err.mark.line + 1}, column ${err.mark.column + 1}` : '';
    return { ok: false, message: `${err.reason}${where}` };
  }
}
