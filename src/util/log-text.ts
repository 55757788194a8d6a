/**
 * A client-chosen text (a path, a request id, a principal) as a log line carries it: at most
 * MAX_LOGGED_CHARS characters, then how long it was. A request can bring tens of kilobytes in one
 * header; a log line never repeats that, so a flood costs bounded lines, not the client's bytes.
 */
export const MAX_LOGGED_CHARS = 256;

export function loggedText(text: string): string;
export function loggedText(text: string | undefined): string | undefined;
export function loggedText(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= MAX_LOGGED_CHARS) return text;
  return `${text.slice(0, MAX_LOGGED_CHARS)}…(${text.length} chars)`;
}
