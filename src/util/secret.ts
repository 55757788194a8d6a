import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './config-error.js';

/** A secret named by the config, never written in it: a file (a mounted Secret) or an environment variable. */
export const secretSourceSchema = z
  .strictObject({ file: z.string().min(1).optional(), env: z.string().min(1).optional() })
  .refine((s) => (s.file === undefined) !== (s.env === undefined), 'set exactly one of file or env');

export type SecretSource = z.infer<typeof secretSourceSchema>;

/** The secret's text, trimmed (files end with a newline); a missing one is a ConfigError naming `field`. */
export function readSecretSource(source: SecretSource, field: string): string {
  if (source.env !== undefined) {
    const value = process.env[source.env];
    if (value === undefined) throw new ConfigError([`${field}.env: environment variable ${source.env} is not set`]);
    return value.trim();
  }
  try {
    return readFileSync(source.file ?? '', 'utf8').trim();
  } catch (err) {
    throw new ConfigError([`${field}.file: cannot read ${source.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
}
