/**
 * examples/envoy/*.yaml are complete Envoy bootstraps, checked field by field against Envoy's own
 * protos (test/deploy/envoy-proto.ts), then for the settings tollgate depends on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type protobuf from 'protobufjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { EnvoyConfigChecker, loadEnvoyRoot } from './envoy-proto.js';
import { REPO } from './kustomize.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const EXT_AUTHZ_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';

let root: protobuf.Root;
beforeAll(async () => {
  root = await loadEnvoyRoot();
});

// The YAML has already been checked field by field against Envoy's protos by the first test of each file;
// the assertions below only read values from it, so a loose type keeps them readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

function load(file: string): Obj {
  const doc = parseDocument(readFileSync(join(REPO, 'examples/envoy', file), 'utf8'), { uniqueKeys: true });
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
  return doc.toJS() as Obj;
}

interface HcmSite {
  listener: Obj;
  chain: Obj;
  hcm: Obj;
}

function connectionManagers(bootstrap: Obj): HcmSite[] {
  const sites: HcmSite[] = [];
  for (const listener of bootstrap.static_resources.listeners as Obj[]) {
    for (const chain of listener.filter_chains as Obj[]) {
      for (const filter of chain.filters as Obj[]) {
        if (filter.typed_config?.['@type'] === HCM) sites.push({ listener, chain, hcm: filter.typed_config });
      }
    }
  }
  return sites;
}

function extAuthzOf(hcm: Obj): Obj | undefined {
  return (hcm.http_filters as Obj[]).find((f) => f.typed_config?.['@type'] === EXT_AUTHZ)?.typed_config;
}

function durationSeconds(value: unknown): number {
  const match = /^(\d+(?:\.\d+)?)s$/.exec(String(value));
  if (!match) throw new Error(`not a duration: ${String(value)}`);
  return Number(match[1]);
}

describe('the strict checker', () => {
  const check = (value: unknown) => EnvoyConfigChecker.check(root, BOOTSTRAP, value).errors;
  const cluster = (extra: Obj) => ({ static_resources: { clusters: [{ name: 'c', ...extra }] } });

  it('accepts a minimal valid bootstrap', () => {
    expect(check(cluster({ connect_timeout: '1s', type: 'STATIC' }))).toEqual([]);
  });

  it('reports unknown keys, wrong shapes, bad @types, two oneof members and missing required fields', () => {
    expect(check(cluster({ conect_timeout: '1s' }))).toEqual([
      expect.stringContaining('static_resources.clusters[0].conect_timeout: unknown field'),
    ]);
    expect(check(cluster({ connect_timeout: 0.25 }))).toEqual([expect.stringContaining('a Duration is a string')]);
    expect(check(cluster({ type: 'STATICK' }))).toEqual([
      expect.stringContaining('"STATICK" is not a value of envoy.config.cluster.v3.Cluster.DiscoveryType'),
    ]);
    expect(check(cluster({ type: 'STATIC', cluster_type: { name: 'x' } }))).toEqual([expect.stringContaining('more than one member set')]);
    expect(check({ static_resources: { clusters: [{ type: 'STATIC' }] } })).toEqual([
      expect.stringContaining('envoy.config.cluster.v3.Cluster.name is required'),
    ]);
    expect(check(cluster({ typed_extension_protocol_options: { x: { '@type': 'type.googleapis.com/envoy.NoSuchThing' } } }))).toEqual([
      expect.stringContaining('envoy.NoSuchThing is not a message in the loaded protos'),
    ]);
    expect(
      check(
        cluster({
          typed_extension_protocol_options: {
            x: { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, explicit_http_config: { http3_protocol_option: {} } },
          },
        }),
      ),
    ).toEqual([
      expect.stringContaining('explicit_http_config.http3_protocol_option: unknown field'),
      expect.stringContaining('one of http_protocol_options, http2_protocol_options, http3_protocol_options is required'),
    ]);
    expect(check(cluster({ per_connection_buffer_limit_bytes: 'lots' }))).toEqual([expect.stringContaining('must be uint32')]);
    expect(check(cluster({ respect_dns_ttl: 'yes' }))).toEqual([expect.stringContaining('must be bool')]);
  });

  it('accepts camelCase names, wrappers as plain values and reports deprecated fields', () => {
    expect(check(cluster({ connectTimeout: '1s', perConnectionBufferLimitBytes: 32768 }))).toEqual([]);
    // A deprecated field in the cluster proto: Envoy warns or refuses depending on version.
    expect(check(cluster({ http2_protocol_options: {} }))).toEqual([
      expect.stringContaining('deprecated field of envoy.config.cluster.v3.Cluster'),
    ]);
  });
});

describe.each(['sidecar.yaml', 'gateway.yaml', 'sidecar-mtls.yaml', 'gateway-mtls.yaml'])('examples/envoy/%s', (file) => {
  it("is a valid Envoy bootstrap, field by field, against Envoy's protos", () => {
    const { errors, typesSeen } = EnvoyConfigChecker.check(root, BOOTSTRAP, load(file));
    expect(errors).toEqual([]);
    // The walk reached into every typed_config, not just the outer shell.
    for (const type of [
      'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      'envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
      'envoy.extensions.filters.http.router.v3.Router',
      'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      HTTP_PROTOCOL_OPTIONS,
      'envoy.config.core.v3.HealthCheck.GrpcHealthCheck',
    ]) {
      expect(typesSeen, type).toContain(type);
    }
  });

  it('calls tollgate over gRPC with V3, an explicit timeout, and fails closed', () => {
    const sites = connectionManagers(load(file)).filter((s) => extAuthzOf(s.hcm));
    expect(sites.length).toBeGreaterThan(0);
    for (const { hcm } of sites) {
      const authz = extAuthzOf(hcm)!;
      expect(authz.transport_api_version).toBe('V3');
      expect(authz.grpc_service?.envoy_grpc?.cluster_name).toBe('tollgate');
      expect(authz.http_service).toBeUndefined();
      const timeout = durationSeconds(authz.grpc_service?.timeout);
      expect(timeout).toBeGreaterThan(0);
      expect(timeout).toBeLessThanOrEqual(1);
      expect(authz.failure_mode_allow).toBe(false);
      expect(authz.status_on_error).toEqual({ code: 'ServiceUnavailable' });
      expect(authz.with_request_body).toBeUndefined();
      // ext_authz runs before the router, which is last.
      const names = (hcm.http_filters as Obj[]).map((f) => f.typed_config['@type']);
      expect(names.indexOf(EXT_AUTHZ)).toBeLessThan(names.indexOf(ROUTER));
      expect(names.at(-1)).toBe(ROUTER);
      // Headers tollgate strips cannot be smuggled with underscores, and paths are normalized first.
      expect(hcm.common_http_protocol_options?.headers_with_underscores_action).toBe('REJECT_REQUEST');
      expect(hcm.normalize_path).toBe(true);
    }
  });

  it('sends the client certificate wherever the listener verifies one', () => {
    const sites = connectionManagers(load(file)).filter((s) => extAuthzOf(s.hcm));
    const verifying = sites.filter((s) => s.chain.transport_socket?.typed_config?.common_tls_context?.validation_context);
    expect(verifying.length).toBeGreaterThan(0);
    for (const { hcm } of verifying) expect(extAuthzOf(hcm)!.include_peer_certificate).toBe(true);
  });

  it('turns ext_authz off for the unauthenticated health route only', () => {
    // The egress listener serves the application's own outbound calls: it has no health route.
    for (const { hcm } of connectionManagers(load(file)).filter((s) => extAuthzOf(s.hcm) && s.listener.name !== 'egress')) {
      const routes = (hcm.route_config.virtual_hosts as Obj[]).flatMap((vh) => vh.routes as Obj[]);
      const disabled = routes.filter((r) => r.typed_per_filter_config?.[EXT_AUTHZ_FILTER]);
      expect(disabled.map((r) => r.match)).toEqual([{ path: '/healthz' }]);
      expect(disabled[0]!.typed_per_filter_config[EXT_AUTHZ_FILTER]).toEqual({ '@type': EXT_AUTHZ_PER_ROUTE, disabled: true });
    }
  });

  it('reaches tollgate over HTTP/2 with a gRPC health check', () => {
    const cluster = (load(file).static_resources.clusters as Obj[]).find((c) => c.name === 'tollgate');
    expect(cluster).toBeDefined();
    const options = cluster!.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS];
    expect(options?.['@type']).toBe(`type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`);
    expect(options?.explicit_http_config?.http2_protocol_options).toBeDefined();
    const checks = cluster!.health_checks as Obj[];
    expect(checks).toHaveLength(1);
    expect(['', 'envoy.service.auth.v3.Authorization']).toContain(checks[0]!.grpc_health_check?.service_name ?? '');
    expect(durationSeconds(cluster!.connect_timeout)).toBeLessThanOrEqual(1);
  });
});

describe('examples/envoy/sidecar.yaml', () => {
  it('calls tollgate on 127.0.0.1:9001 and requires client certificates on the app port', () => {
    const bootstrap = load('sidecar.yaml');
    const cluster = (bootstrap.static_resources.clusters as Obj[]).find((c) => c.name === 'tollgate')!;
    expect(cluster.type).toBe('STATIC');
    const address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(address).toEqual({ address: '127.0.0.1', port_value: 9001 });
    const inbound = connectionManagers(bootstrap).find((s) => extAuthzOf(s.hcm))!;
    expect(inbound.chain.transport_socket.typed_config.require_client_certificate).toBe(true);
  });
});

/** The UpstreamTlsContext of a cluster, if it has one. */
function upstreamTls(bootstrap: Obj, name: string): Obj | undefined {
  const cluster = (bootstrap.static_resources.clusters as Obj[]).find((c) => c.name === name);
  const socket = cluster?.transport_socket?.typed_config;
  return socket?.['@type'] === 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext' ? socket : undefined;
}

describe.each([
  ['gateway-mtls.yaml', 'spiffe://cluster.local/ns/authz/sa/tollgate'],
  ['sidecar-mtls.yaml', 'spiffe://cluster.local/ns/shop/sa/orders'],
])('examples/envoy/%s (pattern 4)', (file, tollgateId) => {
  it("reaches tollgate over mTLS with a client certificate, h2, the CA and tollgate's SPIFFE ID, reloading rotated files", () => {
    const tls = upstreamTls(load(file), 'tollgate')!;
    expect(tls).toBeDefined();
    const common = tls.common_tls_context;
    expect(common.alpn_protocols).toEqual(['h2']);
    expect(common.tls_certificates[0].certificate_chain.filename).toBeDefined();
    expect(common.tls_certificates[0].watched_directory.path).toBe('/etc/envoy/tls');
    expect(common.validation_context.trusted_ca.filename).toBeDefined();
    expect(common.validation_context.match_typed_subject_alt_names).toEqual([{ san_type: 'URI', matcher: { exact: tollgateId } }]);
  });

  it('presents the certificate minted tokens are bound to (bindToCaller) on every upstream it routes to, reconnecting within a minute', () => {
    const bootstrap = load(file);
    const routed = connectionManagers(bootstrap)
      .filter((s) => extAuthzOf(s.hcm))
      .flatMap((s) => (s.hcm.route_config.virtual_hosts as Obj[]).flatMap((vh) => vh.routes as Obj[]))
      .map((r) => r.route?.cluster as string | undefined)
      .filter((name): name is string => name !== undefined && upstreamTls(bootstrap, name) !== undefined);
    expect(routed.length).toBeGreaterThan(0);
    const presented = (name: string) => upstreamTls(bootstrap, name)!.common_tls_context.tls_certificates;
    const maxDuration = (name: string) => {
      const cluster = (bootstrap.static_resources.clusters as Obj[]).find((c) => c.name === name)!;
      return durationSeconds(
        cluster.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.common_http_protocol_options?.max_connection_duration,
      );
    };
    for (const name of ['tollgate', ...routed]) {
      expect(presented(name), name).toEqual(presented('tollgate'));
      expect(maxDuration(name), name).toBeLessThanOrEqual(60);
    }
  });
});

describe('examples/envoy/sidecar-mtls.yaml', () => {
  it('has a loopback egress listener whose ext_authz exchanges tokens before an mTLS call to the next service', () => {
    const bootstrap = load('sidecar-mtls.yaml');
    const egress = connectionManagers(bootstrap).find((s) => s.listener.name === 'egress')!;
    expect(egress.listener.address.socket_address.address).toBe('127.0.0.1');
    expect(extAuthzOf(egress.hcm)?.grpc_service?.envoy_grpc?.cluster_name).toBe('tollgate');
    const routes = (egress.hcm.route_config.virtual_hosts as Obj[]).flatMap((vh) => vh.routes as Obj[]);
    expect(routes.every((r) => !r.typed_per_filter_config)).toBe(true); // no route skips the exchange
    for (const route of routes) expect(upstreamTls(bootstrap, String(route.route.cluster))).toBeDefined();
    const inbound = connectionManagers(bootstrap).find((s) => s.listener.name === 'inbound')!;
    expect(inbound.chain.transport_socket.typed_config.require_client_certificate).toBe(true);
    expect(extAuthzOf(inbound.hcm)!.include_peer_certificate).toBe(true);
  });
});

describe('examples/envoy/http-service.yaml', () => {
  const file = 'http-service.yaml';
  const site = () => connectionManagers(load(file)).find((s) => extAuthzOf(s.hcm))!;
  const patterns = (list: unknown) => ((list as Obj | undefined)?.patterns as Obj[] | undefined) ?? [];

  it("is a valid Envoy bootstrap, field by field, against Envoy's protos", () => {
    const { errors, typesSeen } = EnvoyConfigChecker.check(root, BOOTSTRAP, load(file));
    expect(errors).toEqual([]);
    for (const type of [
      'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      'envoy.extensions.filters.http.ext_authz.v3.HttpService',
      'envoy.extensions.filters.http.ext_authz.v3.AuthorizationResponse',
      'envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
      'envoy.type.matcher.v3.ListStringMatcher',
      'envoy.config.core.v3.HttpUri',
      'envoy.config.core.v3.HealthCheck.HttpHealthCheck',
      'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    ]) {
      expect(typesSeen, type).toContain(type);
    }
  });

  it("asks tollgate's /envoy endpoint over HTTP with an explicit timeout, and fails closed", () => {
    const authz = extAuthzOf(site().hcm)!;
    expect(authz.grpc_service).toBeUndefined();
    expect(authz.http_service.path_prefix).toBe('/envoy');
    expect(durationSeconds(authz.http_service.server_uri.timeout)).toBeLessThanOrEqual(1);
    expect(authz.failure_mode_allow).toBe(false);
    expect(authz.status_on_error).toEqual({ code: 'ServiceUnavailable' });
    expect(authz.with_request_body).toBeUndefined();
    const cluster = (load(file).static_resources.clusters as Obj[]).find((c) => c.name === authz.http_service.server_uri.cluster)!;
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({
      address: '127.0.0.1',
      port_value: 9003,
    });
    expect(cluster.health_checks[0].http_health_check.path).toBe('/readyz');
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.health_check_config.port_value).toBe(9002);
  });

  it('sends tollgate the token, the identity headers to judge and the verified client certificate, and takes its answer', () => {
    const { hcm } = site();
    const authz = extAuthzOf(hcm)!;
    const { strip } = configSchema.parse({}).identityHeaders;
    const sent = patterns(authz.allowed_headers);
    for (const name of ['authorization', 'cookie', 'x-forwarded-client-cert', 'x-request-id'])
      expect(sent, name).toContainEqual({ exact: name });
    for (const prefix of strip) expect(sent, prefix).toContainEqual({ prefix });
    const response = authz.http_service.authorization_response;
    for (const prefix of strip) expect(patterns(response.allowed_upstream_headers), prefix).toContainEqual({ prefix });
    expect(patterns(response.allowed_client_headers)).toContainEqual({ exact: 'www-authenticate' });
    expect(patterns(response.allowed_client_headers_on_success)).toContainEqual({ exact: 'tollgate-token-refresh' });
    // The client's own X-Forwarded-Client-Cert never reaches tollgate: Envoy replaces it.
    expect(hcm.forward_client_cert_details).toBe('SANITIZE_SET');
    expect(hcm.set_current_client_cert_details).toEqual({ uri: true });
    expect(hcm.common_http_protocol_options?.headers_with_underscores_action).toBe('REJECT_REQUEST');
    expect(hcm.normalize_path).toBe(true);
  });
});
