/**
 * The alerts and the dashboard of k8s/monitoring, and docs/operations.md's metrics table, against what
 * a running tollgate exposes: tollgate is started with every feature that registers metrics (mTLS on
 * gRPC and HTTPS on the HTTP port, internal tokens, a context source, a revocation store, the admin
 * API, a decision log, dry-run and rollout rules), answers a few checks, and its /metrics is scraped.
 * A query naming a metric it does not expose (a typo, a renamed metric, `_bucket` of a counter) fails,
 * as does an exposed tollgate_ metric without a row in the table.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { rotateKeys } from '../../src/internal-tokens/rotate.js';
import { REPO } from '../deploy/kustomize.js';
import { checkRequest } from '../helpers/envoy-client.js';
import { startHttpServer, startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey, type TestKey } from '../helpers/keys.js';
import { TestCa } from '../helpers/pki.js';
import { es256Provider, nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

const ISSUER = 'https://idp.example.com';
const ENVOY = 'spiffe://test.local/ns/edge/sa/gateway';

let key: TestKey;
let jwksServer: TestHttpServer;
let domain: TestHttpServer;
let keysDir: string;
let ca: TestCa;
let tg: RunningTollgate;
/** Metric names as queries may name them: each family's name, and _bucket/_sum/_count for histograms. */
let exposed: Set<string>;
/** The tollgate_ families, by their base name. */
let families: Map<string, string>;

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', ca: ca.cert, servername: 'localhost' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics answered ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  key = await testKey('ES256');
  jwksServer = await startJwksServer(jwks(key));
  domain = await startHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ roles: ['teacher'] }));
  });
  keysDir = mkdtempSync(join(tmpdir(), 'tollgate-metric-names-keys-'));
  await rotateKeys(keysDir, { algorithm: 'ES256', publishAheadSeconds: 0, ttlSeconds: 120, nowSeconds: nowSeconds() - 60 });
  ca = new TestCa();
  const server = ca.issue('spiffe://test.local/ns/authz/sa/tollgate', { days: 30 });
  const client = ca.issue(ENVOY, { days: 30 });
  const tls = { certFile: 'tls.crt', keyFile: 'tls.key', clientCaFile: 'ca.crt', allowedClients: [ENVOY] };
  tg = await startTollgate(
    {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0', tls, httpTls: { certFile: 'tls.crt', keyFile: 'tls.key' } },
      providers: [{ ...es256Provider(ISSUER, 'api', `${jwksServer.url}/jwks`), claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }] }],
      internalTokens: { issuer: 'https://gateway.tollgate.test', keysDir, publishAheadSeconds: 0 },
      contextSources: [{ name: 'courses', http: { url: `${domain.url}/roles?sub={sub}&context={context}&id={id}`, timeoutMs: 1000 } }],
      revocation: { store: 'memory' },
      admin: { tokenFile: 'admin-token' },
      decisionLog: { sink: 'file', path: 'decisions.jsonl', sampleAllowed: 1 },
      rules: [
        { id: 'shadow', match: { paths: ['/shadow/**'] }, require: { roles: { anyOf: ['admin'] } }, dryRun: true },
        { id: 'canary', match: { paths: ['/canary/**'] }, require: { roles: { anyOf: ['admin'] } }, rollout: { enforcePercent: 50 } },
        {
          id: 'course',
          match: { paths: ['/courses/{courseId}/**'] },
          require: { contextRole: { context: 'course', id: '{courseId}', anyOf: ['teacher'], fallback: 'courses' } },
          internalToken: { audience: 'grades' },
        },
        { id: 'api', match: { paths: ['/**'] }, require: { authenticated: true } },
      ],
    },
    { 'tls.crt': server.cert, 'tls.key': server.key, 'ca.crt': ca.cert, 'admin-token': 'a-long-enough-admin-secret' },
    { clientCredentials: grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(client.key), Buffer.from(client.cert)) },
  );
  // A few decisions, so that series created on first use (by rule, reason, source) exist too.
  const bearer = `Bearer ${await mint(ISSUER, 'api', { key, claims: { sub: 'alice' }, now: nowSeconds(tg.clock) })}`;
  for (const path of ['/courses/1/grades', '/courses/1/grades', '/shadow/x', '/canary/x', '/things', '/nothing-without-a-token']) {
    const headers: Record<string, string> = path.includes('without') ? {} : { authorization: bearer };
    await tg.client.check(checkRequest({ path, headers }));
  }
  const text = await scrape(tg.app.httpPort);
  families = new Map();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(name!, type!);
  exposed = new Set();
  for (const [name, type] of families) {
    exposed.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(name + suffix);
  }
});
afterAll(async () => {
  await tg?.close();
  await jwksServer?.close();
  await domain?.close();
  ca?.remove();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
});

/** Every tollgate_ metric name a PromQL expression names (label names and values never start with it). */
const metricsIn = (expr: string) => [...expr.matchAll(/\btollgate_[a-z0-9_]+/g)].map((m) => m[0]);

interface RuleFile {
  spec: { groups: Array<{ rules: Array<{ alert?: string; expr: string }> }> };
}
interface Dashboard {
  panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
  templating: { list: Array<{ name: string; query?: string | { query: string } }> };
}

describe('metric names against a running tollgate', () => {
  it('exposes the metrics of every feature it was started with (the scrape reads them all)', () => {
    for (const name of [
      'tollgate_check_total',
      'tollgate_check_duration_seconds',
      'tollgate_internal_tokens_minted_total',
      'tollgate_context_lookups_total',
      'tollgate_tls_certificate_expiry_timestamp_seconds',
      'tollgate_revocation_store_up',
      'tollgate_decision_log_dropped_total',
    ])
      expect(families.has(name), name).toBe(true);
  });

  it('names in every alert only metrics tollgate exposes', () => {
    const rules = parse(readFileSync(join(REPO, 'k8s/monitoring/prometheusrule.yaml'), 'utf8')) as RuleFile;
    const named = rules.spec.groups.flatMap((g) => g.rules.flatMap((r) => metricsIn(r.expr).map((m) => `${r.alert}: ${m}`)));
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((n) => !exposed.has(n.split(': ')[1]!))).toEqual([]);
  });

  it('names in every dashboard query only metrics tollgate exposes', () => {
    const dashboard = JSON.parse(readFileSync(join(REPO, 'k8s/monitoring/grafana-dashboard.json'), 'utf8')) as Dashboard;
    const queries = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr] as const)),
      ...dashboard.templating.list.map((v) => [v.name, typeof v.query === 'string' ? v.query : (v.query?.query ?? '')] as const),
    ];
    const named = queries.flatMap(([where, expr]) => metricsIn(expr).map((m) => `${where}: ${m}`));
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((n) => !exposed.has(n.slice(n.lastIndexOf(': ') + 2)))).toEqual([]);
  });

  it("documents every tollgate_ metric it exposes in docs/operations.md's metrics table", () => {
    const docs = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
    const rows = new Set([...docs.matchAll(/^\| `(tollgate_[a-z0-9_]+)` \|/gm)].map((m) => m[1]!));
    const tollgate = [...families.keys()].filter((name) => name.startsWith('tollgate_'));
    expect(tollgate.length).toBeGreaterThan(25);
    expect(tollgate.filter((name) => !rows.has(name))).toEqual([]);
  });
});
