import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/util/config-error.js';

const source = { name: 'courses', http: { url: 'https://courses.internal/subjects/{sub}/{context}/{id}/roles' } };
const rule = (fallback: string) => ({
  id: 'grades',
  match: { paths: ['/courses/{courseId}/**'] },
  require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'], fallback } },
});

function problems(config: object): string[] {
  try {
    parseConfig(stringify(config), '/etc/tollgate');
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('contextSources config', () => {
  it('fills the defaults the README gives', () => {
    const config = parseConfig(stringify({ contextSources: [source], rules: [rule('courses')] }), '/');
    expect(config.contextSources).toEqual([
      {
        ...source,
        http: { ...source.http, timeoutMs: 200 },
        cacheSeconds: 60,
        negativeCacheSeconds: 10,
        maxEntries: 100000,
        maxBytes: 67108864,
      },
    ]);
  });

  it('refuses a fallback that names no source, unknown placeholders, other schemes and duplicate names', () => {
    expect(problems({ contextSources: [source], rules: [rule('nope')] }).join('\n')).toMatch(
      /rules\[0\]\.require\.contextRole\.fallback.*no context source named "nope"/,
    );
    expect(problems({ contextSources: [{ ...source, http: { url: 'https://d/{user}' } }] }).join('\n')).toMatch(
      /placeholders \{provider\}, \{sub\}, \{context\} and \{id\}/,
    );
    for (const url of ['https://d/a/../{sub}', 'https://d/./{sub}', 'https://d/{sub}/..', 'https://d/x/..?s={sub}']) {
      expect(problems({ contextSources: [{ ...source, http: { url } }] }).join('\n'), url).toMatch(/"\." or "\.\." path segments/);
    }
    expect(problems({ contextSources: [{ ...source, http: { url: 'https://d/.well-known/{sub}?q=..' } }] })).toEqual([]);
    expect(problems({ contextSources: [{ ...source, http: { url: 'file:///etc/{sub}' } }] }).join('\n')).toMatch(/http:\/\/ or https:\/\//);
    expect(problems({ contextSources: [source, source] }).join('\n')).toMatch(/duplicate context source name/);
  });
});
