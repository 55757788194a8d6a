import { readFileSync } from 'node:fs';

/** tollgate's version, from the package.json one level above both src/ and dist/. */
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
