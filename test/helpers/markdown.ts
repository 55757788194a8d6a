import { readFileSync } from 'node:fs';

/** The page's text without fenced code blocks, where `#` lines and `[x](y)` are not markdown. */
export const prose = (text: string) => text.replace(/^```[\s\S]*?^```/gm, '');

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as `-`. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every heading anchor of a markdown file (a repeated heading suffixed `-1`, `-2`, ...). */
export function anchorsOf(path: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const [, text] of prose(readFileSync(path, 'utf8')).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(text!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}
