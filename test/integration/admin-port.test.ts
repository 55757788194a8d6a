/**
 * `admin.listen`: the admin API on a port of its own. The HTTP port keeps metrics, health and the
 * JWKS for those who may read them, and no longer answers the revocation API, so a JWKS reader
 * admitted to the HTTP port cannot reach it even with a leaked admin token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const SECRET = 'an-admin-secret-of-at-least-32-bytes';

describe('admin.listen: the admin API on a port of its own', () => {
  let tg: RunningTollgate;

  beforeAll(async () => {
    tg = await startTollgate(
      {
        revocation: { store: 'memory' },
        admin: { tokenFile: 'admin-token', listen: '127.0.0.1:0' },
        rules: [{ id: 'open', match: { paths: ['/**'] }, require: { anonymous: true } }],
      },
      { 'admin-token': SECRET },
    );
  });
  afterAll(async () => tg?.close());

  const revocations = (port: number) =>
    fetch(`http://127.0.0.1:${port}/admin/v1/revocations`, { headers: { authorization: `Bearer ${SECRET}` } });

  it('answers the admin API on its port, and names it in the start line', async () => {
    expect(tg.app.adminPort).toBeGreaterThan(0);
    expect((await revocations(tg.app.adminPort)).status).toBe(200);
    expect(tg.logs.find((l) => l.msg === 'tollgate serving')?.admin).toBe(`127.0.0.1:${tg.app.adminPort}`);
  });

  it('no longer answers it on the HTTP port, which keeps metrics and health', async () => {
    expect((await revocations(tg.app.httpPort)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${tg.app.httpPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${tg.app.httpPort}/metrics`)).status).toBe(200);
  });

  it('serves nothing but the admin API on the admin port', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz'])
      expect((await fetch(`http://127.0.0.1:${tg.app.adminPort}${path}`)).status).toBe(404);
  });

  it('needs the credential there as anywhere', async () => {
    expect((await fetch(`http://127.0.0.1:${tg.app.adminPort}/admin/v1/revocations`)).status).toBe(401);
  });
});

describe('admin without listen', () => {
  it('stays on the HTTP port', async () => {
    const tg = await startTollgate(
      { revocation: { store: 'memory' }, admin: { tokenFile: 'admin-token' }, rules: [] },
      { 'admin-token': SECRET },
    );
    try {
      expect(tg.app.adminPort).toBe(0);
      const answer = await fetch(`http://127.0.0.1:${tg.app.httpPort}/admin/v1/revocations`, {
        headers: { authorization: `Bearer ${SECRET}` },
      });
      expect(answer.status).toBe(200);
    } finally {
      await tg.close();
    }
  });
});
