/**
 * The docs are a set of pages that link to each other (README.md is the front door): a link to a
 * page that moved, or to a heading that was renamed, fails here rather than in a reader's browser.
 * Anchors follow GitHub's rule: the heading's text, lower case, punctuation dropped, spaces as `-`,
 * a repeated heading suffixed `-1`, `-2`, ...
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorsOf as anchorsOfPath, prose, slug } from '../helpers/markdown.js';

const REPO = join(import.meta.dirname, '../..');
const PAGES = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

const anchorsOf = (file: string) => anchorsOfPath(join(REPO, file));

function linksOf(file: string): string[] {
  return [...prose(readFileSync(join(REPO, file), 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

describe('documentation links', () => {
  it('slugs headings as GitHub does', () => {
    expect(slug('HTTP authorization (nginx, Traefik, Envoy http_service)')).toBe('http-authorization-nginx-traefik-envoy-http_service');
    expect(slug("mTLS on tollgate's listeners")).toBe('mtls-on-tollgates-listeners');
    expect(slug('`providers[].jwks`')).toBe('providersjwks');
    expect(slug('Policy: `rules`')).toBe('policy-rules');
  });

  it.each(PAGES)('%s: every relative link names a file that exists and a heading it has', (page) => {
    const broken: string[] = [];
    for (const link of linksOf(page)) {
      if (/^[a-z]+:/i.test(link)) continue; // http(s):, mailto: — not ours to check offline
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? page : relative(REPO, join(REPO, dirname(page), path));
      if (!existsSync(join(REPO, target))) {
        broken.push(`${link}: no file ${target}`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(target).has(anchor))
        broken.push(`${link}: no heading #${anchor} in ${target}`);
    }
    expect(broken).toEqual([]);
  });

  it('checks links that are there to check', () => {
    // Guards the link reader: the front door links to the reference pages.
    expect(linksOf('README.md').filter((l) => l.startsWith('docs/')).length).toBeGreaterThan(5);
  });
});
