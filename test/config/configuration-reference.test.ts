/**
 * docs/configuration.md, the configuration reference, is what people (and outside checks) write configs
 * from: every key the config schema accepts must be documented there. Keys are collected by walking the
 * schema itself, so a new key without an entry fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { configSchema } from '../../src/config/schema.js';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}

const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Every object key reachable in `schema`, as dotted paths (`[]` for array elements). */
function keyPaths(schema: z.ZodType, prefix = '', seen = new Set<z.ZodType>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = defOf(schema);
  const inner = (s: z.ZodType | undefined, p = prefix) => (s ? keyPaths(s, p, seen) : []);
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([key, value]) => {
        const path = prefix ? `${prefix}.${key}` : key;
        return [path, ...keyPaths(value, path, seen)];
      });
    case 'array':
      return inner(def.element, `${prefix}[]`);
    case 'union':
      return (def.options ?? []).flatMap((o) => inner(o));
    case 'intersection':
      return [...inner(def.left), ...inner(def.right)];
    case 'pipe':
      return [...inner(def.in), ...inner(def.out)];
    case 'record':
      return inner(def.valueType, `${prefix}.*`);
    case 'lazy':
      return inner(def.getter?.());
    default:
      return inner(def.innerType);
  }
}

const REFERENCE = readFileSync(join(import.meta.dirname, '../../docs/configuration.md'), 'utf8');

describe('configuration reference (docs/configuration.md)', () => {
  const paths = [...new Set(keyPaths(configSchema))].sort();

  it('walks the whole schema', () => {
    // Guards the walker: nested, array and optional keys are all found.
    expect(paths).toEqual(expect.arrayContaining(['listen.tls.allowedClients', 'providers[].jwks.uri', 'readiness.requireProviderKeys']));
    expect(paths.length).toBeGreaterThan(100);
  });

  it('documents every key the schema accepts', () => {
    // A key is documented when it is named in an inline code span of the reference: as a table's key
    // (`maxStalenessSeconds`), a dotted path (`readiness.requireProviderKeys`) or an inline form
    // (`scopes: {allOf: [...]}`). Fenced examples do not count: an example is not a reference.
    const prose = REFERENCE.replace(/```[\s\S]*?```/g, '');
    const named = new Set([...prose.matchAll(/`([^`\n]+)`/g)].flatMap((m) => m[1]!.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []));
    const undocumented = paths.filter(
      (path) =>
        !named.has(
          path
            .split(/[.[\]*]+/)
            .filter(Boolean)
            .at(-1)!,
        ),
    );
    expect(undocumented).toEqual([]);
  });
});
