/**
 * The one encoding of a claim in an identity header: tollgate's injector writes with `encodeClaim`, and
 * `identityFrom` reads with `decodeList` / `decodeContextRoles`, so the two cannot drift apart. Part of
 * `tollgate/identity` (it imports nothing), and the contract services in other languages implement.
 *
 * A header value is either
 * - a JSON object (the claim was an object: context roles, `{"course":{"teacher":["123"]}}`), or
 * - a list of items separated by `,` (the claim was a string, number or boolean — a list of one — or
 *   an array of those). No item is empty, contains `,`, starts or ends with white space, or starts
 *   with `{`.
 * A claim that cannot be written so that the reader gets back exactly what the token held (an array
 * member `"user,admin"`, a string that looks like JSON, an empty string) has no encoding: tollgate does
 * not inject it, and warns, rather than let a service read roles the token does not carry.
 */

/** The header text for a claim value, or undefined when the value has no unambiguous encoding. */
export function encodeClaim(value: unknown): string | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return JSON.stringify(value);
  const items = Array.isArray(value) ? value : [value];
  const texts: string[] = [];
  for (const item of items) {
    const text = typeof item === 'string' ? item : typeof item === 'number' || typeof item === 'boolean' ? String(item) : undefined;
    if (text === undefined || !isListItem(text)) return undefined;
    texts.push(text);
  }
  return texts.join(',');
}

/** An item the list reading gives back unchanged. */
function isListItem(text: string): boolean {
  return text !== '' && !text.includes(',') && text.trim() === text && !text.startsWith('{');
}

/** Whether a header value is the JSON-object form (else it is a list). */
export function isObjectValue(text: string): boolean {
  return text.trimStart().startsWith('{');
}

/** The items of a list value. */
export function decodeList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** Context → role → ids, from the object form; anything else in it is ignored, never guessed at. */
export function decodeContextRoles(text: string): Record<string, Record<string, string[]>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  const out: Record<string, Record<string, string[]>> = {};
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return out;
  for (const [context, byRole] of Object.entries(parsed)) {
    if (typeof byRole !== 'object' || byRole === null || Array.isArray(byRole)) continue;
    const roles: Record<string, string[]> = {};
    for (const [role, ids] of Object.entries(byRole as Record<string, unknown>)) {
      const list = Array.isArray(ids) ? ids : [ids];
      roles[role] = list.filter((id) => typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id))).map(String);
    }
    out[context] = roles;
  }
  return out;
}
