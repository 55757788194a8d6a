import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminHandler } from '../../src/admin/index.js';
import { adminConfigSchema } from '../../src/config/admin.js';
import {
  createRevocationStore,
  parseRevocationConfig,
  RevocationStoreUnavailableError,
  type RevocationStore,
} from '../../src/revocation/index.js';
import { SECRET, startAdmin, T0, type AdminFixture } from './admin-server.js';
import { testDeps } from '../revocation/helpers.js';

let admin: AdminFixture;
beforeAll(async () => {
  admin = await startAdmin();
});
afterAll(async () => {
  await admin?.close();
});

async function call(
  method: string,
  path: string,
  {
    body,
    token = SECRET,
    raw,
    contentType = 'application/json',
  }: { body?: unknown; token?: string | null; raw?: string | Blob; contentType?: string | null } = {},
): Promise<{ status: number; json: Record<string, unknown> | undefined; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if ((body !== undefined || raw !== undefined) && contentType !== null) headers['content-type'] = contentType;
  const response = await fetch(admin.url + path, {
    method,
    headers,
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await response.text();
  return {
    status: response.status,
    json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
    headers: response.headers,
  };
}

const revocations = '/admin/v1/revocations';

describe('admin API: credential', () => {
  it('no credential → 401 with a Bearer challenge; wrong → 401; other schemes → 401', async () => {
    const none = await call('GET', revocations, { token: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="tollgate-admin"');
    const wrong = await call('GET', revocations, { token: `${SECRET}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const basic = await fetch(admin.url + revocations, { headers: { authorization: `Basic ${btoa(`admin:${SECRET}`)}` } });
    expect(basic.status).toBe(401);
    // Unauthenticated callers cannot probe the routes either.
    expect((await call('GET', '/admin/v1/nothing', { token: null })).status).toBe(401);
  });

  it('leaves paths outside /admin/ to the other handlers', async () => {
    const response = await fetch(`${admin.url}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('not handled by admin');
  });

  it('is off without a credential, and refuses to start on a missing, empty or short secret', async () => {
    const store = createRevocationStore(parseRevocationConfig({ store: 'memory' }), testDeps());
    const off = createAdminHandler({ store, admin: {}, deps: testDeps() });
    expect(await off({ url: '/admin/v1/revocations' } as never, {} as never)).toBe(false);

    const missing = join(admin.dir, 'missing-token');
    expect(() => createAdminHandler({ store, admin: { tokenFile: missing }, deps: testDeps() })).toThrow(
      `config: admin.tokenFile ${missing}: cannot read the admin secret (ENOENT)`,
    );
    const empty = join(admin.dir, 'empty-token');
    writeFileSync(empty, '\n');
    expect(() => createAdminHandler({ store, admin: { tokenFile: empty }, deps: testDeps() })).toThrow(
      `config: admin.tokenFile ${empty}: the admin secret is empty`,
    );
    writeFileSync(empty, 'short');
    expect(() => createAdminHandler({ store, admin: { tokenFile: empty }, deps: testDeps() })).toThrow(/5 characters, at least 16/);
    expect(() => createAdminHandler({ store, admin: { tokenEnv: 'TOLLGATE_TEST_NOPE' }, deps: testDeps(), env: {} })).toThrow(
      'config: admin.tokenEnv TOLLGATE_TEST_NOPE: the admin secret is empty',
    );
    const fromEnv = createAdminHandler({ store, admin: { tokenEnv: 'T' }, deps: testDeps(), env: { T: SECRET } });
    expect(typeof fromEnv).toBe('function');
    expect(adminConfigSchema.safeParse({ tokenFile: empty, tokenEnv: 'T' }).error?.issues[0]?.message).toBe(
      'set tokenFile or tokenEnv, not both',
    );
  });
});

describe('admin API: requests', () => {
  it('rejects malformed bodies with 400 naming the field', async () => {
    const cases: Array<[{ body?: unknown; raw?: string }, string, RegExp?]> = [
      [{ raw: '{"type":' }, 'body', /valid JSON/],
      [{ raw: '' }, 'body', /required/],
      [{ body: ['jti'] }, 'body', /JSON object/],
      [{ body: { value: 'a', reason: 'r' } }, 'type', /required/],
      [{ body: { type: 'token', value: 'a', reason: 'r' } }, 'type', /jti, sid, sub/],
      [{ body: { type: 'jti', value: '', reason: 'r' } }, 'value', /empty/],
      [{ body: { type: 'jti', value: 42, reason: 'r' } }, 'value', /string/],
      [{ body: { type: 'jti', value: 'a' } }, 'reason', /required/],
      [{ body: { type: 'sub', value: 'a', reason: 'r', notBefore: '2025-01-31' } }, 'notBefore', /RFC 3339/],
      [{ body: { type: 'sub', value: 'a', reason: 'r', notBefore: 1738324800 } }, 'notBefore', /RFC 3339/],
      [{ body: { type: 'sub', value: 'a', reason: 'r', notBefore: '2025-02-30T00:00:00Z' } }, 'notBefore', /RFC 3339/],
      [{ body: { type: 'jti', value: 'a', reason: 'r', expiresAt: '2025-01-31T11:00:00Z' } }, 'expiresAt', /future/],
      [{ body: { type: 'jti', value: 'a', reason: 'r', notBefore: '2025-01-31T11:00:00Z' } }, 'notBefore', /only applies to type sub/],
      [{ body: { type: 'jti', value: 'a', reason: 'r', notbefore: 'x' } }, 'notbefore', /unknown field/],
    ];
    for (const [request, field, message] of cases) {
      const { status, json } = await call('POST', revocations, request);
      expect({ status, field: json?.field }, JSON.stringify(request)).toEqual({ status: 400, field });
      expect(json?.message).toMatch(message ?? /./);
      expect(json?.message).toMatch(new RegExp(`^${field}: `));
    }
    expect(admin.store.list()).toEqual([]);
  });

  it('caps the body at 64 KiB', async () => {
    const { status, json } = await call('POST', revocations, {
      raw: JSON.stringify({ type: 'jti', value: 'a', reason: 'x'.repeat(70_000) }),
    });
    expect(status).toBe(413);
    expect(json?.message).toBe('body: must be at most 65536 bytes');
  });

  it('refuses a body that is not UTF-8 with 400, instead of storing U+FFFD', async () => {
    const raw = Buffer.concat([Buffer.from('{"type":"jti","value":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('","reason":"r"}')]);
    const { status, json } = await call('POST', revocations, { raw: new Blob([raw]) });
    expect({ status, field: json?.field, message: json?.message }).toEqual({ status: 400, field: 'body', message: 'body: must be UTF-8' });
    expect(admin.store.list()).toEqual([]);
  });

  it('refuses a body that is not declared application/json with 415', async () => {
    const body = { type: 'jti', value: 'media-type', reason: 'r' };
    for (const contentType of [null, 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      const { status, json } = await call('POST', revocations, { body, contentType });
      expect({ status, error: json?.error }, String(contentType)).toEqual({ status: 415, error: 'unsupported_media_type' });
    }
    expect(admin.store.list()).toEqual([]);
    expect((await call('POST', revocations, { body, contentType: 'Application/JSON; charset=utf-8' })).status).toBe(201);
    expect((await call('DELETE', `${revocations}/jti/media-type`)).status).toBe(204);
  });

  it('POST, GET, DELETE round trip, with RFC 3339 times', async () => {
    const created = await call('POST', revocations, { body: { type: 'jti', value: 'tok/1 ä', reason: 'leaked in a log', sub: 'alice' } });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      revocation: {
        type: 'jti',
        value: 'tok/1 ä',
        sub: 'alice',
        reason: 'leaked in a log',
        createdAt: '2025-01-31T12:00:00Z',
        expiresAt: '2025-01-31T13:00:00Z',
      },
    });
    const sub = await call('POST', revocations, {
      body: {
        type: 'sub',
        value: 'bob',
        reason: 'account compromised',
        notBefore: '2025-01-31T13:30:00+01:00',
        expiresAt: '2025-02-01T00:00:00Z',
      },
    });
    expect(sub.status).toBe(201);
    expect(sub.json?.revocation).toMatchObject({ notBefore: '2025-01-31T12:30:00Z', expiresAt: '2025-02-01T00:00:00Z' });
    expect(admin.store.check({ jti: 'tok/1 ä' })).toEqual({ revoked: 'jti' });
    expect(admin.store.check({ sub: 'bob', iat: T0 / 1000 + 1799 })).toEqual({ revoked: 'sub' });
    expect(admin.store.check({ sub: 'bob', iat: T0 / 1000 + 1800 })).toEqual({ revoked: null, refresh: false });

    const listed = await call('GET', revocations);
    expect(listed.status).toBe(200);
    expect((listed.json?.revocations as Array<{ value: string }>).map((e) => e.value).sort()).toEqual(['bob', 'tok/1 ä']);

    const path = `${revocations}/jti/${encodeURIComponent('tok/1 ä')}`;
    const removed = await call('DELETE', path);
    expect(removed.status).toBe(204);
    expect(admin.store.check({ jti: 'tok/1 ä' })).toEqual({ revoked: null, refresh: false });
    expect((await call('DELETE', path)).status).toBe(404);
    const badType = await call('DELETE', `${revocations}/token/x`);
    expect({ status: badType.status, field: badType.json?.field }).toEqual({ status: 400, field: 'type' });
    expect((await call('DELETE', `${revocations}/sub/bob`)).status).toBe(204);
  });

  it('refresh: records the moment, older tokens get refresh: true, listed under GET', async () => {
    const response = await call('POST', '/admin/v1/subjects/carol/refresh');
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ refresh: { sub: 'carol', at: '2025-01-31T12:00:01Z', expiresAt: '2025-01-31T13:00:01Z' } });
    expect(admin.store.check({ sub: 'carol', iat: T0 / 1000 })).toEqual({ revoked: null, refresh: true });
    expect(admin.store.check({ sub: 'carol', iat: T0 / 1000 + 1 })).toEqual({ revoked: null, refresh: false });
    const explicit = await call('POST', '/admin/v1/subjects/dave/refresh', {
      body: { at: '2025-01-31T11:00:00Z', reason: 'role removed' },
    });
    expect(explicit.json?.refresh).toMatchObject({ sub: 'dave', at: '2025-01-31T11:00:00Z' });
    const bad = await call('POST', '/admin/v1/subjects/dave/refresh', { body: { at: 'yesterday' } });
    expect({ status: bad.status, field: bad.json?.field }).toEqual({ status: 400, field: 'at' });
    const listed = await call('GET', revocations);
    expect((listed.json?.refresh as Array<{ sub: string }>).map((m) => m.sub).sort()).toEqual(['carol', 'dave']);
  });

  it('unknown route → 404, wrong method → 405 with Allow', async () => {
    expect((await call('GET', '/admin/v2/revocations')).status).toBe(404);
    expect((await call('GET', '/admin/v1/revocations/jti')).status).toBe(404);
    const put = await call('PUT', revocations, { body: {} });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
    const get = await call('GET', `${revocations}/jti/x`);
    expect({ status: get.status, allow: get.headers.get('allow') }).toEqual({ status: 405, allow: 'DELETE' });
    expect((await call('GET', '/admin/v1/subjects/x/refresh')).headers.get('allow')).toBe('POST');
    expect((await call('GET', `${revocations}/jti/%E0%A4%A`)).status).toBe(400);
  });

  it('audit-logs every action with who, from where, what and when — never the secret', async () => {
    const before = admin.lines.length;
    await call('POST', revocations, { body: { type: 'sid', value: 'sess-9', reason: 'stolen laptop' } });
    await call('GET', revocations, { token: 'not-the-secret-but-also-not-logged' });
    await call('DELETE', `${revocations}/sid/sess-9`);
    const audit = admin.lines.slice(before).map((line) => JSON.parse(line) as { audit?: Record<string, unknown> });
    expect(audit.map((line) => line.audit?.action)).toEqual(['revoke', 'authenticate', 'unrevoke']);
    const [revoke = {}, refused, unrevoke] = audit.map((line) => line.audit ?? {});
    expect(revoke).toMatchObject({
      actor: expect.stringMatching(/^sha256:[0-9a-f]{12}$/),
      remote: '127.0.0.1',
      method: 'POST',
      status: 201,
      target: { type: 'sid', value: 'sess-9' },
      reason: 'stolen laptop',
      at: '2025-01-31T12:00:00.000Z',
    });
    expect(refused).toMatchObject({ actor: 'unauthenticated', status: 401, error: 'the credential is not valid', path: revocations });
    expect(unrevoke).toMatchObject({ actor: revoke.actor, status: 204, target: { type: 'sid', value: 'sess-9' } });
    const everything = admin.lines.join('\n');
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('not-the-secret');
  });

  it('a store that cannot persist → 503, and the revocation is not accepted', async () => {
    const failing = await startAdmin((store) =>
      Object.assign(Object.create(store) as RevocationStore, {
        revoke: () => Promise.reject(new RevocationStoreUnavailableError('revocation: redis write failed (connection refused)')),
      }),
    );
    try {
      const response = await fetch(`${failing.url}${revocations}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'jti', value: 'x', reason: 'r' }),
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        error: 'store_unavailable',
        message: 'revocation: redis write failed (connection refused)',
      });
    } finally {
      await failing.close();
    }
  });
});
