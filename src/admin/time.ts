/**
 * The admin API and the CLI exchange times as RFC 3339 strings with an explicit offset
 * (`2025-01-31T12:00:00Z`, `2025-01-31T13:00:00+01:00`): unambiguous about zone and unit, unlike epoch
 * numbers that are easily sent in milliseconds by mistake. The store works in epoch seconds.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

export const RFC3339_HINT = 'must be an RFC 3339 timestamp with an offset, e.g. 2025-01-31T12:00:00Z';

/** Epoch seconds (fraction kept), or undefined if `text` is not a valid RFC 3339 date-time. */
export function parseRfc3339(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  // Before 1970 means nothing here (and Date.UTC maps years 0-99 to 1900-1999).
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined; // no leap seconds: JWT times have none
  let offset = 0;
  if (match[8] === undefined) {
    const offsetHours = Number(match[10]);
    const offsetMinutes = Number(match[11]);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    offset = (match[9] === '-' ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
  }
  const fraction = match[7] === undefined ? 0 : Number(match[7]);
  return Date.UTC(year, month - 1, day, hour, minute, second) / 1000 + fraction - offset;
}

/** `2025-01-31T12:00:00Z` (milliseconds only when there are some). */
export function formatRfc3339(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}
