import type { z } from 'zod';
import { explainIssues } from './explain-issues.js';

/** A config that cannot be used. The message names the field and the fix; the CLI exits with code 2. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.map((p) => `config: ${p}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Renders a field path the way docs/configuration.md writes fields: `providers[0].jwks.uri` ('' for none). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

export function configErrorFromZod(error: z.ZodError, schema: z.ZodType): ConfigError {
  return new ConfigError(
    explainIssues(error.issues, schema).map((issue) => `${formatPath(issue.path) || '(top level)'}: ${issue.message}`),
  );
}
