import { UsageError } from './io.js';

/**
 * `--claim name=value` options as claims: a value that parses as JSON is JSON (`roles=["a"]`), else a
 * string. `reserved` names claims the command sets itself, with the option that sets each: a
 * `--claim` for one of them would silently lose, so it is refused.
 */
export function claimsFromOptions(pairs: readonly string[], reserved: Readonly<Record<string, string>>): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--claim ${JSON.stringify(pair)}: use name=value`);
    const name = pair.slice(0, eq);
    if (Object.hasOwn(reserved, name)) throw new UsageError(`--claim ${name}=...: ${name} is set by ${reserved[name]}`);
    claims[name] = parseValue(pair.slice(eq + 1));
  }
  return claims;
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
