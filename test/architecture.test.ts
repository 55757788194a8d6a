import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The dependency rules of docs/architecture.md, checked on the source: a room (a directory of src/)
 * may import only from the rooms listed for it. A new import across a forbidden arrow fails here.
 */
const SRC = resolve(import.meta.dirname, '../src');

/** The rooms each room must never import from. */
const FORBIDDEN: Record<string, readonly string[]> = {
  util: ['envoy', 'config', 'keys', 'policy', 'revocation', 'observability', 'pipeline', 'server', 'cli', 'admin'],
  envoy: ['util', 'config', 'keys', 'policy', 'revocation', 'observability', 'pipeline', 'server', 'cli', 'admin'],
  // Domain rooms get their config section already parsed: they own their section's schema, and never
  // import the top-level config.
  keys: ['config', 'pipeline', 'server', 'cli', 'admin'],
  opaque: ['config', 'pipeline', 'server', 'cli', 'admin', 'policy', 'revocation'],
  policy: ['config', 'pipeline', 'server', 'cli', 'admin', 'internal-tokens', 'tls'],
  revocation: ['config', 'pipeline', 'server', 'cli', 'admin'],
  // Shipped to services as `tollgate/identity`: it stands alone.
  identity: [
    'util',
    'envoy',
    'config',
    'keys',
    'policy',
    'context',
    'revocation',
    'observability',
    'pipeline',
    'server',
    'cli',
    'admin',
    'reasons.ts',
    'tls',
    'internal-tokens',
  ],
  context: ['config', 'pipeline', 'server', 'cli', 'admin', 'revocation', 'tls', 'internal-tokens'],
  observability: ['config', 'pipeline', 'server', 'cli', 'admin'],
  pipeline: ['server', 'cli', 'admin'],
  config: ['pipeline', 'server', 'cli', 'admin'],
  tls: ['config', 'pipeline', 'server', 'cli', 'admin', 'internal-tokens'],
  // Mints on the pipeline's allow (outcome.ts) and answers on the HTTP port through util's replies: it
  // may use the pipeline, never the server, the top-level config or the CLI.
  'internal-tokens': ['config', 'server', 'cli', 'admin', 'tls'],
  // The admin API over the revocation store: below the server that mounts it, above config.
  admin: ['server', 'cli', 'pipeline', 'internal-tokens', 'tls'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative module specifier in a file: static imports, re-exports and dynamic imports. */
function relativeImports(source: string): string[] {
  const found = source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm);
  return [...found].map((m) => m[1]!);
}

/** The room of a path under src/: its first directory, or the file itself at the top. */
function roomOf(path: string): string {
  return relative(SRC, path).split(/[\\/]/)[0]!;
}

function crossings(): { from: string; to: string; file: string }[] {
  return sourceFiles(SRC).flatMap((file) =>
    relativeImports(readFileSync(file, 'utf8')).map((specifier) => ({
      from: roomOf(file),
      to: roomOf(resolve(dirname(file), specifier)),
      file: `${relative(SRC, file)} imports ${specifier}`,
    })),
  );
}

describe('dependency rules', () => {
  const all = crossings();

  it('finds the imports it checks', () => {
    // Guards the scanner itself: a regex that matched nothing would make every rule pass.
    expect(all.some((c) => c.from === 'server' && c.to === 'pipeline')).toBe(true);
    expect(relativeImports("import type { A } from '../server/a.js';\nexport { b } from './b.js';\nawait import('../cli/c.js');")).toEqual([
      '../server/a.js',
      './b.js',
      '../cli/c.js',
    ]);
  });

  for (const [room, forbidden] of Object.entries(FORBIDDEN)) {
    it(`src/${room} imports nothing from ${forbidden.map((r) => `src/${r}`).join(', ')}`, () => {
      const violations = all.filter((c) => c.from === room && forbidden.includes(c.to)).map((c) => c.file);
      expect(violations).toEqual([]);
    });
  }
});

/**
 * What only some configs use stays out of memory for the others (a sidecar runs in every pod): the
 * OpenTelemetry SDK is loaded when tracing is configured, pino-pretty when `log.format` is pretty,
 * @grpc/reflection when a client first asks for reflection.
 */
describe('modules loaded only when configured', () => {
  const files = sourceFiles(SRC).map((file) => ({ name: relative(SRC, file), source: readFileSync(file, 'utf8') }));
  /** Static value imports (not `import type`) of a specifier matching `pattern`. */
  const valueImports = (source: string, pattern: string) =>
    [...source.matchAll(new RegExp(`^import\\s+(?!type\\b)[^;]*?from\\s*['"](${pattern})['"]`, 'gms'))].map((m) => m[1]);

  it('finds value imports and ignores type imports', () => {
    const sample = "import type { A } from '@opentelemetry/api';\nimport {\n  B,\n} from '@opentelemetry/core';\n";
    expect(valueImports(sample, '@opentelemetry/[^\'"]+')).toEqual(['@opentelemetry/core']);
  });

  it('imports the OpenTelemetry SDK only in otel-tracing.ts, and that file only dynamically', () => {
    const offenders = files.filter(
      (f) =>
        (f.name !== 'observability/otel-tracing.ts' && valueImports(f.source, '@opentelemetry/[^\'"]+').length > 0) ||
        valueImports(f.source, '[./]*otel-tracing\\.js').length > 0,
    );
    expect(offenders.map((f) => f.name)).toEqual([]);
  });

  it('never imports pino-pretty statically', () => {
    expect(files.filter((f) => valueImports(f.source, 'pino-pretty').length > 0).map((f) => f.name)).toEqual([]);
  });

  it('never imports @grpc/reflection statically: reflection is built on its first call', () => {
    expect(files.filter((f) => valueImports(f.source, '@grpc/reflection').length > 0).map((f) => f.name)).toEqual([]);
  });
});
