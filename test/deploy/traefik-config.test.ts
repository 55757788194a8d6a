/**
 * examples/traefik: Traefik's forwardAuth in front of an app. No Traefik runs in the tests (the
 * parity test drives /traefik the way forwardAuth calls it); this checks the file's keys against
 * forwardAuth's options and the settings tollgate's header hygiene depends on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { REPO } from './kustomize.js';

// The YAML is checked key by key below; a loose type keeps the reads short.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** Traefik v3's forwardAuth options (its CRD schema, traefik.io/v1alpha1 Middleware spec.forwardAuth). */
const FORWARD_AUTH_OPTIONS = new Set([
  'address',
  'tls',
  'trustForwardHeader',
  'authResponseHeaders',
  'authResponseHeadersRegex',
  'authRequestHeaders',
  'addAuthCookiesToResponse',
  'headerField',
  'forwardBody',
  'maxBodySize',
  'preserveLocationHeader',
  'preserveRequestMethod',
  'maxResponseBodySize',
  'authSigninURL',
]);

function load(file: string): Obj {
  const doc = parseDocument(readFileSync(join(REPO, 'examples/traefik', file), 'utf8'), { uniqueKeys: true });
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
  return doc.toJS() as Obj;
}

/** Go's http.CanonicalHeaderKey, the form Traefik matches authResponseHeadersRegex against. */
const canonical = (name: string) =>
  name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1).toLowerCase())
    .join('-');

describe('examples/traefik', () => {
  const dynamic = load('dynamic.yml');
  const auth = dynamic.http.middlewares.tollgate.forwardAuth as Obj;

  it("loads dynamic.yml from the static config, and every forwardAuth key is one of Traefik's", () => {
    expect(load('traefik.yml').providers.file.filename).toBe('dynamic.yml');
    for (const key of Object.keys(auth)) expect(FORWARD_AUTH_OPTIONS, key).toContain(key);
  });

  it("asks tollgate's /traefik endpoint and never trusts a client's X-Forwarded-* headers", () => {
    expect(new URL(auth.address as string)).toMatchObject({ protocol: 'http:', port: '9003', pathname: '/traefik' });
    expect(auth.trustForwardHeader).toBe(false);
  });

  it('replaces every identity header from the answer and removes the token after the check', () => {
    expect((auth.authResponseHeaders as string[]).map((h) => h.toLowerCase())).toEqual(['x-user-id', 'x-user-roles']);
    // Go's RE2 and JavaScript agree on this pattern's syntax.
    const scrubbed = new RegExp(auth.authResponseHeadersRegex as string);
    for (const prefix of configSchema.parse({}).identityHeaders.strip)
      expect(scrubbed.test(canonical(`${prefix}forged`)), prefix).toBe(true);
    for (const name of ['Authorization', 'X-Request-Id', 'Cookie', 'X-Forwarded-For']) expect(scrubbed.test(name), name).toBe(false);
    const router = dynamic.http.routers.app as Obj;
    expect(router.middlewares).toEqual(['tollgate', 'drop-token']);
    expect(dynamic.http.middlewares['drop-token'].headers.customRequestHeaders).toEqual({ Authorization: '' });
  });
});
