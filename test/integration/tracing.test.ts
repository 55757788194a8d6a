import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { checkRequest } from '../helpers/envoy-client.js';
import { startHttpServer, startJwksServer, type TestHttpServer } from '../helpers/http-server.js';
import { jwks, mint, testKey } from '../helpers/keys.js';
import { nowSeconds, startTollgate, type RunningTollgate } from '../helpers/tollgate.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: { stringValue?: string; boolValue?: boolean } }>;
}

/** A small OTLP/HTTP receiver: takes the JSON export requests the exporter POSTs to /v1/traces. */
async function startOtlpReceiver(): Promise<TestHttpServer & { spans: OtlpSpan[] }> {
  const spans: OtlpSpan[] = [];
  const server = await startHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces' && req.headers['content-type'] === 'application/json') {
        const doc = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const resource of doc.resourceSpans) for (const scope of resource.scopeSpans) spans.push(...scope.spans);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      } else {
        res.writeHead(400);
        res.end();
      }
    });
  });
  return Object.assign(server, { spans });
}

const attributesOf = (span: OtlpSpan) => Object.fromEntries(span.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.boolValue]));
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const ISSUER = 'https://idp.example.com';

describe("traces joined to Envoy's", () => {
  let tg: RunningTollgate | undefined;
  const servers: TestHttpServer[] = [];
  afterEach(async () => {
    await tg?.close();
    tg = undefined;
    for (const s of servers.splice(0)) await s.close();
  });

  it("exports a span per Check that continues the request's traceparent or B3 trace, with the decision and child spans", async () => {
    const receiver = await startOtlpReceiver();
    const first = await testKey('ES256');
    const rotated = await testKey('ES256');
    const jwksServer = await startJwksServer(jwks(first));
    servers.push(receiver, jwksServer);
    tg = await startTollgate({
      providers: [{ name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks.json` } }],
      rules: [
        { id: 'open', match: { paths: ['/open'] }, require: { anonymous: true } },
        { id: 'api', match: { paths: ['/api/**'] }, require: { roles: { anyOf: ['reader'] } } },
      ],
      revocation: { store: 'memory' },
      tracing: { otlpEndpoint: receiver.url, sampleRatio: 0 },
    });

    // The IdP rotates: the Check for a token signed with the new key fetches the key set again.
    jwksServer.set(jwks(first, rotated));
    const token = await mint(ISSUER, 'api', { key: rotated, now: nowSeconds(tg.clock), claims: { sub: 'alice', roles: ['reader'] } });
    const w3c = { traceId: hex(16), spanId: hex(8) };
    const allowed = await tg.client.check(
      checkRequest({ path: '/api/x', headers: { authorization: `Bearer ${token}`, traceparent: `00-${w3c.traceId}-${w3c.spanId}-01` } }),
    );
    expect(allowed.status?.code).toBe(0);
    const again = { traceId: hex(16), spanId: hex(8) };
    await tg.client.check(
      checkRequest({
        path: '/api/x',
        headers: { authorization: `Bearer ${token}`, traceparent: `00-${again.traceId}-${again.spanId}-01` },
      }),
    );

    const b3 = { traceId: hex(16), spanId: hex(8) };
    const denied = await tg.client.check(
      checkRequest({ path: '/api/x', headers: { 'x-b3-traceid': b3.traceId, 'x-b3-spanid': b3.spanId, 'x-b3-sampled': '1' } }),
    );
    expect(denied.status?.code).toBe(16);
    const single = { traceId: hex(16), spanId: hex(8) };
    await tg.client.check(checkRequest({ path: '/open', headers: { b3: `${single.traceId}-${single.spanId}-1` } }));
    // Not traced: Envoy said not sampled, or sent no trace and sampleRatio is 0.
    await tg.client.check(checkRequest({ path: '/open', headers: { traceparent: `00-${hex(16)}-${hex(8)}-00` } }));
    await tg.client.check(checkRequest({ path: '/open' }));

    await tg.close(); // flushes the exporter
    tg = undefined;

    const checks = receiver.spans.filter((s) => s.name === 'envoy.service.auth.v3.Authorization/Check');
    expect(checks.map((s) => s.traceId).sort()).toEqual([w3c.traceId, again.traceId, b3.traceId, single.traceId].sort());
    const byTrace = (traceId: string) => checks.find((s) => s.traceId === traceId)!;

    const first_ = byTrace(w3c.traceId);
    expect(first_.parentSpanId).toBe(w3c.spanId);
    expect(first_.kind).toBe(2); // SERVER
    expect(attributesOf(first_)).toMatchObject({
      'rpc.system': 'grpc',
      'tollgate.decision': 'allow',
      'tollgate.reason': 'allowed',
      'tollgate.rule': 'api',
      'tollgate.provider': 'idp',
      'tollgate.cache_hit': false,
    });
    expect(attributesOf(byTrace(again.traceId))['tollgate.cache_hit']).toBe(true);
    expect(byTrace(b3.traceId).parentSpanId).toBe(b3.spanId);
    expect(attributesOf(byTrace(b3.traceId))).toMatchObject({
      'tollgate.decision': 'deny',
      'tollgate.reason': 'missing_token',
      'tollgate.rule': 'api',
    });
    expect(byTrace(single.traceId).parentSpanId).toBe(single.spanId);

    // Children of the first Check: the key fetch its unknown kid caused, and the revocation look-up.
    const children = receiver.spans.filter((s) => s.parentSpanId === first_.spanId);
    expect(children.map((s) => s.name).sort()).toEqual(['tollgate.jwks.fetch', 'tollgate.revocation.check']);
    for (const child of children) expect(child.traceId).toBe(w3c.traceId);
    expect(receiver.spans.filter((s) => s.name === 'tollgate.revocation.check')).toHaveLength(2); // the token was checked twice

    // Nothing a client sent beyond the trace context reaches a span.
    expect(JSON.stringify(receiver.spans)).not.toContain(token);
  });

  it('gives a context-source look-up a child span of its Check', async () => {
    const receiver = await startOtlpReceiver();
    const key = await testKey('ES256');
    const jwksServer = await startJwksServer(jwks(key));
    const domain = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ roles: ['ta'] }));
    });
    servers.push(receiver, jwksServer, domain);
    tg = await startTollgate({
      providers: [{ name: 'idp', issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], jwks: { uri: `${jwksServer.url}/jwks.json` } }],
      contextSources: [{ name: 'enrollments', http: { url: `${domain.url}/roles?sub={sub}&context={context}&id={id}` } }],
      rules: [
        {
          id: 'grades',
          match: { paths: ['/courses/{courseId}/grades'] },
          require: { contextRole: { claim: 'roles', context: 'course', id: '{courseId}', anyOf: ['ta'], fallback: 'enrollments' } },
        },
      ],
      tracing: { otlpEndpoint: receiver.url, sampleRatio: 0 },
    });
    // The token lists no course at all, so the source is asked.
    const token = await mint(ISSUER, 'api', {
      key,
      now: nowSeconds(tg.clock),
      claims: { sub: 'alice', roles: { org: { admin: ['1'] } } },
    });
    const parent = { traceId: hex(16), spanId: hex(8) };
    const answer = await tg.client.check(
      checkRequest({
        path: '/courses/246/grades',
        headers: { authorization: `Bearer ${token}`, traceparent: `00-${parent.traceId}-${parent.spanId}-01` },
      }),
    );
    expect(answer.status?.code).toBe(0);
    await tg.close(); // flushes the exporter
    tg = undefined;

    const check = receiver.spans.find((s) => s.name === 'envoy.service.auth.v3.Authorization/Check');
    expect(check?.traceId).toBe(parent.traceId);
    const lookup = receiver.spans.find((s) => s.name === 'tollgate.context.lookup');
    expect(lookup).toMatchObject({ traceId: parent.traceId, parentSpanId: check!.spanId });
  });

  it.each([
    [{ otlpEndpoint: 'collector:4318' }, 'tracing.otlpEndpoint: otlpEndpoint must be an http(s) URL'],
    [{ otlpEndpoint: 'http://c:4318', sampleRatio: 1.5 }, 'tracing.sampleRatio: sampleRatio must be from 0 to 1'],
    [{ otlpEndpoint: 'http://c:4318', ratio: 1 }, 'tracing.ratio: unknown field'],
  ])('refuses tracing %j', (tracing, message) => {
    expect(() => parseConfig(JSON.stringify({ tracing }), '/tmp')).toThrow(message);
  });
});
