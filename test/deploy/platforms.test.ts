/**
 * The platform recipes: examples/istio (MeshConfig extensionProviders, AuthorizationPolicies with
 * action CUSTOM) and examples/envoy-gateway (Gateway, HTTPRoute, ReferenceGrants, SecurityPolicy).
 *
 * What validates what: AuthorizationPolicy against @kubernetes-models/istio's schema; Gateway,
 * HTTPRoute and ReferenceGrant against @kubernetes-models/gateway-api's. Neither package covers the
 * rest: @kubernetes-models/istio's IstioOperator model has no schema for `spec` (it checks
 * apiVersion, kind and metadata only), and Envoy Gateway's SecurityPolicy is in no package. Those are
 * checked here field by field against the names the projects document: Istio's MeshConfig
 * (istio/api mesh/v1alpha1/config.proto: EnvoyExternalAuthorizationGrpcProvider and ...HttpProvider)
 * and Envoy Gateway's API (envoyproxy/gateway api/v1alpha1: SecurityPolicySpec, ExtAuth,
 * GRPCExtAuthService, ContextExtension), and against the tollgate config they front
 * (k8s/overlays/gateway's).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HTTPRoute, Gateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { ReferenceGrant } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1';
import { IstioOperator } from '@kubernetes-models/istio/install.istio.io/v1alpha1';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { REPO, find, render, type K8sObject } from './kustomize.js';

const docs = (path: string) => parseAllDocuments(readFileSync(join(REPO, path), 'utf8')).map((d) => d.toJS() as K8sObject);

/** Istio's MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationGrpcProvider fields (JSON names). */
const ISTIO_GRPC_FIELDS = ['service', 'port', 'timeout', 'failOpen', 'clearRouteCache', 'statusOnError', 'includeRequestBodyInCheck'];
/** ...EnvoyExternalAuthorizationHttpProvider. */
const ISTIO_HTTP_FIELDS = [
  'service',
  'port',
  'timeout',
  'pathPrefix',
  'failOpen',
  'clearRouteCache',
  'statusOnError',
  'includeRequestHeadersInCheck',
  'includeAdditionalHeadersInCheck',
  'includeRequestBodyInCheck',
  'headersToUpstreamOnAllow',
  'headersToDownstreamOnDeny',
  'headersToDownstreamOnAllow',
];
/** Envoy Gateway's SecurityPolicySpec fields that concern ext_authz and targeting. */
const EG_SECURITY_POLICY_SPEC = ['targetRef', 'targetRefs', 'targetSelectors', 'extAuth'];
const EG_EXT_AUTH = [
  'grpc',
  'http',
  'headersToExtAuth',
  'bodyToExtAuth',
  'timeout',
  'failOpen',
  'recomputeRoute',
  'includeRouteMetadata',
  'contextExtensions',
  'statusOnError',
];
const EG_BACKEND_CLUSTER = ['backendRef', 'backendRefs', 'backendSettings'];
const EG_CONTEXT_EXTENSION = ['name', 'type', 'value', 'valueRef'];

/** "0.25s", "250ms" → seconds. */
function seconds(duration: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(duration);
  if (!m) throw new Error(`not a duration: ${duration}`);
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
}
const keysOf = (o: unknown) => Object.keys(o as Record<string, unknown>);
const port = (address: string) => Number(address.split(':').pop());

let gatewayConfig: Config;
beforeAll(() => {
  const cm = find(render('k8s/overlays/gateway'), 'ConfigMap', 'tollgate-config') as unknown as IConfigMap;
  gatewayConfig = parseConfig(cm.data?.['tollgate.yaml'] ?? '', '/etc/tollgate');
});

describe('examples/istio', () => {
  const [operator] = docs('examples/istio/extension-providers.yaml') as Array<
    K8sObject & { spec: { meshConfig: { extensionProviders: Array<Record<string, unknown>> } } }
  >;
  const policies = docs('examples/istio/authorization-policies.yaml');
  const providers = operator!.spec.meshConfig.extensionProviders;
  const grpcProvider = providers.find((p) => p.envoyExtAuthzGrpc)?.envoyExtAuthzGrpc as Record<string, unknown>;
  const httpProvider = providers.find((p) => p.envoyExtAuthzHttp)?.envoyExtAuthzHttp as Record<
    string,
    string[] | string | number | boolean
  >;

  it('validates: the AuthorizationPolicies against Istio’s schema, the IstioOperator’s type and metadata', () => {
    expect(() => new IstioOperator(operator as never).validate()).not.toThrow();
    expect(policies).toHaveLength(2);
    for (const policy of policies) expect(() => new AuthorizationPolicy(policy as never).validate(), policy.metadata.name).not.toThrow();
    // The schema is not a rubber stamp: an unknown action is refused.
    expect(() => new AuthorizationPolicy({ ...policies[0], spec: { action: 'MAYBE' } } as never).validate()).toThrow();
  });

  it('names only fields of Istio’s MeshConfig ext_authz providers', () => {
    for (const provider of providers) {
      expect(keysOf(provider).sort()).toEqual(['name', Object.keys(provider).find((k) => k !== 'name')].sort());
      expect(ISTIO_GRPC_FIELDS).toEqual(expect.arrayContaining(keysOf(provider.envoyExtAuthzGrpc ?? {})));
      expect(ISTIO_HTTP_FIELDS).toEqual(expect.arrayContaining(keysOf(provider.envoyExtAuthzHttp ?? {})));
    }
  });

  it("reaches tollgate's ports with a timeout under Envoy's budget, fail closed", () => {
    expect(grpcProvider.port).toBe(port(gatewayConfig.listen.grpc));
    expect(httpProvider.port).toBe(port(gatewayConfig.listen.authz ?? ''));
    expect(httpProvider.pathPrefix).toBe('/envoy');
    for (const provider of [grpcProvider, httpProvider]) {
      expect(provider.service).toBe('tollgate.authz.svc.cluster.local');
      expect(provider.failOpen).toBe(false);
      expect(seconds(String(provider.timeout))).toBeLessThanOrEqual(0.25);
      expect(provider.statusOnError).toBe('503');
    }
  });

  it("passes every header tollgate injects on allow to the app, and its denial's headers to the client (HTTP provider)", () => {
    const injected = [
      ...gatewayConfig.providers.flatMap((p) => (p.claimToHeaders ?? []).map((c) => c.header.toLowerCase())),
      'x-user-view-as',
      (gatewayConfig.internalTokens?.header ?? 'authorization').toLowerCase(),
    ];
    expect(injected.length).toBeGreaterThan(2);
    expect(httpProvider.headersToUpstreamOnAllow).toEqual(expect.arrayContaining(injected));
    expect(httpProvider.headersToDownstreamOnDeny).toEqual(expect.arrayContaining(['www-authenticate', 'content-type']));
    // tollgate must see forged identity headers to have Envoy remove them: every strip prefix is sent.
    const sent = httpProvider.includeRequestHeadersInCheck as string[];
    for (const entry of gatewayConfig.identityHeaders.strip) expect(sent, entry).toContain(entry.endsWith('-') ? `${entry}*` : entry);
    expect(sent).toEqual(expect.arrayContaining(['authorization', 'cookie']));
  });

  it('sends a gateway and a workload to tollgate with action CUSTOM and a provider the mesh config defines', () => {
    const names = providers.map((p) => p.name);
    for (const policy of policies as Array<K8sObject & { spec: { action: string; provider: { name: string } } }>) {
      expect(policy.spec.action).toBe('CUSTOM');
      expect(names).toContain(policy.spec.provider.name);
    }
    const selectors = policies.map(
      (p) => (p as unknown as { spec: { selector: { matchLabels: Record<string, string> } } }).spec.selector.matchLabels,
    );
    expect(selectors).toContainEqual({ istio: 'ingressgateway' });
    expect(selectors).toContainEqual({ 'app.kubernetes.io/name': 'example-app' });
  });
});

describe('examples/envoy-gateway', () => {
  const objects = docs('examples/envoy-gateway/gateway.yaml');
  const policy = find(objects, 'SecurityPolicy', 'tollgate') as K8sObject & {
    spec: {
      targetRefs: Array<{ group: string; kind: string; name: string }>;
      extAuth: Record<string, unknown> & { grpc: { backendRefs: Array<{ name: string; namespace: string; port: number }> } };
    };
  };

  it('validates the Gateway API objects against their schemas', () => {
    const MODELS: Record<string, new (data: never) => { validate(): void }> = {
      'gateway.networking.k8s.io/v1/Gateway': Gateway,
      'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
      'gateway.networking.k8s.io/v1beta1/ReferenceGrant': ReferenceGrant,
    };
    const gatewayApi = objects.filter((o) => o.apiVersion.startsWith('gateway.networking.k8s.io/'));
    expect(gatewayApi).toHaveLength(4);
    for (const object of gatewayApi) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(Model, `${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Model!(object as never).validate(), `${object.kind}/${object.metadata.name}`).not.toThrow();
    }
  });

  it('names only fields of Envoy Gateway’s SecurityPolicy ext_authz API', () => {
    expect(policy.apiVersion).toBe('gateway.envoyproxy.io/v1alpha1');
    expect(EG_SECURITY_POLICY_SPEC).toEqual(expect.arrayContaining(keysOf(policy.spec)));
    expect(EG_EXT_AUTH).toEqual(expect.arrayContaining(keysOf(policy.spec.extAuth)));
    expect(EG_BACKEND_CLUSTER).toEqual(expect.arrayContaining(keysOf(policy.spec.extAuth.grpc)));
    for (const extension of (policy.spec.extAuth.contextExtensions as object[] | undefined) ?? [])
      expect(EG_CONTEXT_EXTENSION).toEqual(expect.arrayContaining(keysOf(extension)));
    expect(policy.spec.extAuth.http).toBeUndefined();
  });

  it("targets the HTTPRoute, calls tollgate's gRPC port (granted across namespaces), fail closed, inbound", () => {
    const route = find(objects, 'HTTPRoute', policy.spec.targetRefs[0]!.name);
    expect(policy.spec.targetRefs).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: route.metadata.name }]);
    const backend = policy.spec.extAuth.grpc.backendRefs[0]!;
    expect(backend.port).toBe(port(gatewayConfig.listen.grpc));
    const grant = objects.find(
      (o) =>
        o.kind === 'ReferenceGrant' &&
        (o as unknown as { metadata: { namespace: string } }).metadata.namespace === backend.namespace &&
        JSON.stringify(o.spec).includes(`"kind":"SecurityPolicy"`) &&
        JSON.stringify(o.spec).includes(`"name":"${backend.name}"`),
    );
    expect(grant, 'a ReferenceGrant for the SecurityPolicy to name tollgate').toBeDefined();
    expect(policy.spec.extAuth.failOpen).toBe(false);
    expect(seconds(String(policy.spec.extAuth.timeout))).toBeLessThanOrEqual(0.25);
    expect(policy.spec.extAuth.contextExtensions).toEqual([{ name: 'direction', type: 'Value', value: 'inbound' }]);
    // Unset: Envoy sends every header, so tollgate sees (and removes) forged identity headers by prefix.
    expect(policy.spec.extAuth.headersToExtAuth).toBeUndefined();
  });
});
