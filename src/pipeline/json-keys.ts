/**
 * Whether a JSON object's text names any member twice at its top level. JSON.parse keeps the last
 * value silently, so `{"alg":"none","alg":"ES256"}` reads differently to a parser that keeps the first;
 * RFC 7515 §4 lets a JWS parser reject such a header, and tollgate does. Names are compared after
 * unescaping (`"\u0061lg"` is `"alg"`). `json` must be text JSON.parse already accepted as an object.
 */
export function hasDuplicateTopLevelKey(json: string): boolean {
  const names = new Set<string>();
  let depth = 0;
  let expectingName = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) {
      const end = endOfString(json, i);
      if (depth === 1 && expectingName) {
        const name = JSON.parse(json.slice(i, end + 1)) as string;
        if (names.has(name)) return true;
        names.add(name);
        expectingName = false;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth === 1) expectingName = true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    } else if (c === COMMA && depth === 1) {
      expectingName = true;
    }
  }
  return false;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Index of the quote closing the string that opens at `start`. */
function endOfString(json: string, start: number): number {
  let i = start + 1;
  while (json.charCodeAt(i) !== QUOTE) i += json.charCodeAt(i) === BACKSLASH ? 2 : 1;
  return i;
}
