/**
 * The Kubernetes manifests: every overlay renders with `kubectl kustomize`, every object validates
 * against the Kubernetes schemas (kubernetes-models), the tollgate.yaml each overlay ships passes
 * tollgate's own validation, and the properties that matter in production hold: among them the
 * service identity wiring (certificates and signing keys mounted as directories, the SPIFFE IDs of
 * the cert-manager Certificates equal to those the configs and Envoy name, the JWKS reachable by the
 * sidecars and nothing else opened).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as core from 'kubernetes-models/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { INTERNAL_TOKEN_TYP } from '../../src/internal-tokens/index.js';
import { REPO, find, render, requireKubectl, selects, type K8sObject } from './kustomize.js';

const OVERLAYS = ['k8s/overlays/sidecar', 'k8s/overlays/gateway', 'k8s/overlays/gateway-sentinel'] as const;
const CONFIG_DIR = '/etc/tollgate';
const CONFIG_FILE = `${CONFIG_DIR}/tollgate.yaml`;
const SHARED_FILE = join(REPO, 'k8s/base/tollgate.yaml');
/** The line in the shared settings below which each overlay puts its own policy.yaml. */
const POLICY_MARKER = '# ---- policy: replaced below this line by k8s/overlays/<mode>/policy.yaml ----\n';
/** The line in the gateway's policy below which gateway-sentinel puts its own revocation store. */
const REVOCATION_MARKER = '# ---- revocation store: replaced below this line by k8s/overlays/gateway-sentinel/revocation.yaml ----\n';
/** The settings every tollgate shares (k8s/base/tollgate.yaml): they go with the container k8s/base adds. */
const SHARED_KEYS = ['identityHeaders', 'defaultDecision', 'tokenCache', 'admin', 'log', 'shutdown'] as const;
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');

/** The model class for each apiVersion the manifests use; an object of any other kind fails the test. */
const MODELS: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'policy/v1': policy,
  'autoscaling/v2': autoscaling,
  'networking.k8s.io/v1': networking,
};

function validate(object: K8sObject): void {
  const Model = MODELS[object.apiVersion]?.[object.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (typeof Model !== 'function') throw new Error(`no kubernetes-models class for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

const rendered = new Map<string, K8sObject[]>();
const objects = (overlay: string) => rendered.get(overlay) ?? [];

function deployment(overlay: string, name: string): IDeployment {
  return find(objects(overlay), 'Deployment', name) as unknown as IDeployment;
}

function podSpec(d: IDeployment | IStatefulSet): IPodSpec {
  const spec = d.spec?.template.spec;
  if (!spec) throw new Error('no pod spec');
  return spec;
}

function container(spec: IPodSpec, name: string): IContainer {
  const found = spec.containers.find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name} (have ${spec.containers.map((c) => c.name).join(', ')})`);
  return found;
}

/** The Deployment whose pods run the tollgate container, per overlay. */
const TOLLGATE_POD = {
  'k8s/overlays/sidecar': 'example-app',
  'k8s/overlays/gateway': 'tollgate',
  'k8s/overlays/gateway-sentinel': 'tollgate',
} as const;

function renderedConfigText(overlay: string): string {
  const cm = find(objects(overlay), 'ConfigMap', 'tollgate-config') as unknown as IConfigMap;
  const text = cm.data?.['tollgate.yaml'];
  if (text === undefined) throw new Error('tollgate-config has no tollgate.yaml');
  return text;
}

function renderedConfig(overlay: string): Config {
  return parseConfig(renderedConfigText(overlay), CONFIG_DIR);
}

interface Certificate extends K8sObject {
  spec: { secretName: string; dnsNames?: string[]; uris?: string[]; usages?: string[]; issuerRef: { name: string; kind: string } };
}
let certManager: K8sObject[] = [];
const certificates = () => certManager.filter((o): o is Certificate => o.kind === 'Certificate');
const certificateFor = (secretName: string) => certificates().find((c) => c.spec.secretName === secretName);

beforeAll(() => {
  requireKubectl();
  for (const overlay of OVERLAYS) rendered.set(overlay, render(overlay));
  certManager = render('k8s/cert-manager');
});

describe.each(OVERLAYS)('%s', (overlay) => {
  it('renders, and every object validates against the Kubernetes schemas', () => {
    expect(objects(overlay).length).toBeGreaterThan(3);
    for (const object of objects(overlay)) {
      expect(() => validate(object), `${object.kind}/${object.metadata.name}`).not.toThrow();
    }
    // Helper resources marked local-config (the revocation fragment) never reach the cluster.
    for (const object of objects(overlay)) {
      expect(object.metadata.annotations?.['config.kubernetes.io/local-config']).toBeUndefined();
    }
  });

  it("ships a tollgate.yaml that passes tollgate's own config validation", () => {
    const config = renderedConfig(overlay);
    // A sidecar's Envoy asks over gRPC: its tollgate opens no HTTP authorization port.
    expect(config.listen).toMatchObject({
      grpc: '0.0.0.0:9001',
      http: '0.0.0.0:9002',
      authz: overlay.endsWith('/sidecar') ? 'off' : '0.0.0.0:9003',
    });
    expect(config.admin?.tokenFile).toBe('/etc/tollgate-admin/token');
    expect(config.defaultDecision).toBe('deny');
    expect(config.providers.length).toBeGreaterThan(0);
    for (const provider of config.providers) {
      // A real deployment fetches keys over the network: discovery, or an https JWKS URI; never a file.
      expect(provider.jwks?.file).toBeUndefined();
      expect(provider.jwks?.discovery === true || provider.jwks?.uri?.startsWith('https://') === true).toBe(true);
      expect(provider.issuer).toMatch(/^https:\/\//);
    }
    expect(config.revocation).toBeDefined();
  });

  it("renders the shared settings of k8s/base/tollgate.yaml followed by this overlay's policy", () => {
    const shared = readFileSync(SHARED_FILE, 'utf8');
    const parts = shared.split(POLICY_MARKER);
    expect(parts, 'the marker line appears exactly once in k8s/base/tollgate.yaml').toHaveLength(2);
    // Below the marker there is nothing but comments: each overlay's policy goes there.
    expect(parse(parts[1]!)).toBeNull();
    let policy = read(`${overlay.replace('-sentinel', '')}/policy.yaml`);
    if (overlay === 'k8s/overlays/gateway-sentinel') {
      // The gateway's policy with its revocation store, the section below its own marker, replaced.
      const gatewayParts = policy.split(REVOCATION_MARKER);
      expect(gatewayParts).toHaveLength(2);
      expect(Object.keys(parse(gatewayParts[1]!) as Record<string, unknown>)).toEqual(['revocation']);
      policy = gatewayParts[0] + REVOCATION_MARKER + read(`${overlay}/revocation.yaml`);
      expect(Object.keys(parse(read(`${overlay}/revocation.yaml`)) as Record<string, unknown>)).toEqual(['revocation']);
    }
    expect(renderedConfigText(overlay)).toBe(parts[0] + POLICY_MARKER + policy);
    // The shared settings are only in the shared file; a policy repeating one would not even parse
    // (duplicate keys), this keeps the policies to what differs by hop.
    const policyKeys = Object.keys(parse(policy) as Record<string, unknown>);
    for (const key of SHARED_KEYS) expect(policyKeys).not.toContain(key);
    expect(Object.keys(parse(parts[0]!) as Record<string, unknown>).sort()).toEqual([...SHARED_KEYS].sort());
  });

  it('mounts the config ConfigMap as a directory (no subPath), under a stable name, so hot reload works', () => {
    const spec = podSpec(deployment(overlay, TOLLGATE_POD[overlay]));
    const tollgate = container(spec, 'tollgate');
    expect(tollgate.args).toEqual(['--config', CONFIG_FILE]);
    const configVolume = spec.volumes?.find((v) => v.configMap?.name === 'tollgate-config');
    expect(configVolume, 'a volume from ConfigMap tollgate-config').toBeDefined();
    // The ConfigMap keeps its name across changes (no content hash), so apply updates it in place.
    expect(find(objects(overlay), 'ConfigMap', 'tollgate-config').metadata.name).toBe('tollgate-config');
    expect(configVolume?.configMap?.items).toBeUndefined();
    const mount = tollgate.volumeMounts?.find((m) => m.name === configVolume?.name);
    expect(mount?.mountPath).toBe(CONFIG_DIR);
    expect(dirname(CONFIG_FILE)).toBe(mount?.mountPath);
    for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
      for (const m of c.volumeMounts ?? []) expect(m.subPath, `${c.name} mounts ${m.name} with subPath`).toBeUndefined();
    }
  });

  it('probes /healthz and /readyz on the HTTP port over HTTPS, which asks for no client certificate', () => {
    const d = deployment(overlay, TOLLGATE_POD[overlay]);
    const tollgate = container(podSpec(d), 'tollgate');
    const config = renderedConfig(overlay);
    const httpPort = Number(config.listen.http.split(':').pop());
    const portNamed = (name: unknown) => tollgate.ports?.find((p) => p.name === name)?.containerPort;
    const probes = { startup: tollgate.startupProbe, liveness: tollgate.livenessProbe, readiness: tollgate.readinessProbe };
    for (const [kind, probe] of Object.entries(probes)) {
      // Never the gRPC port: the kubelet's gRPC probe speaks no TLS and presents no client certificate.
      expect(probe?.grpc, kind).toBeUndefined();
      expect(probe?.exec ?? probe?.tcpSocket, kind).toBeUndefined();
      expect(portNamed(probe?.httpGet?.port), kind).toBe(httpPort);
      // The HTTP port serves TLS, without client certificates: the kubelet presents none.
      expect(probe?.httpGet?.scheme, kind).toBe(config.listen.httpTls ? 'HTTPS' : 'HTTP');
    }
    expect(config.listen.httpTls).toBeDefined();
    expect(config.listen.httpTls?.clientCaFile).toBeUndefined();
    expect(probes.startup?.httpGet?.path).toBe('/healthz');
    expect(probes.liveness?.httpGet?.path).toBe('/healthz');
    expect(probes.readiness?.httpGet?.path).toBe('/readyz');
    // Prometheus scrapes the same port, with the scheme it serves.
    expect(d.spec?.template.metadata?.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/scheme': 'https',
      'prometheus.io/port': String(httpPort),
      'prometheus.io/path': '/metrics',
    });
  });

  it('mounts every certificate, key and signing-key file the config names from a whole Secret, as a directory', () => {
    const spec = podSpec(deployment(overlay, TOLLGATE_POD[overlay]));
    const tollgate = container(spec, 'tollgate');
    const config = renderedConfig(overlay);
    const tlsFiles = [config.listen.tls, config.listen.httpTls].flatMap((tls) =>
      tls ? [tls.certFile, tls.keyFile, ...(tls.clientCaFile ? [tls.clientCaFile] : [])] : [],
    );
    expect(tlsFiles.length).toBeGreaterThan(0);
    const dirs = [...tlsFiles.map((f) => posix.dirname(f)), ...(config.internalTokens ? [config.internalTokens.keysDir] : [])];
    for (const dir of dirs) {
      const mount = tollgate.volumeMounts?.find((m) => m.mountPath === dir);
      expect(mount, `a mount at ${dir}`).toBeDefined();
      expect(mount?.readOnly).toBe(true);
      // The whole Secret at the directory: no subPath, no items (the kubelet's ..data swap reaches tollgate).
      expect(mount?.subPath).toBeUndefined();
      const secret = spec.volumes?.find((v) => v.name === mount?.name)?.secret;
      expect(secret?.secretName, `${dir} comes from a Secret`).toBeDefined();
      expect(secret?.items).toBeUndefined();
    }
    // cert-manager writes tls.crt, tls.key and ca.crt, and these are the Secrets the Certificates name.
    for (const file of tlsFiles) {
      expect(['tls.crt', 'tls.key', 'ca.crt']).toContain(posix.basename(file));
      const mount = tollgate.volumeMounts?.find((m) => m.mountPath === posix.dirname(file));
      const secretName = spec.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName;
      expect(certificateFor(secretName ?? ''), `a Certificate for ${secretName}`).toBeDefined();
    }
  });

  it('runs tollgate with a locked-down securityContext and the sized resources', () => {
    const d = deployment(overlay, TOLLGATE_POD[overlay]);
    const spec = podSpec(d);
    const tollgate = container(spec, 'tollgate');
    // The image is the one docs/deploying.md builds, tagged with this version (kustomize `images:`).
    const built = /^docker build -t (\S+)/m.exec(readFileSync(join(REPO, 'docs/deploying.md'), 'utf8'))?.[1];
    expect(built).toBe(
      `registry.example.com/tollgate:${(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version}`,
    );
    expect(tollgate.image).toBe(built);
    expect(tollgate.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['grpc', 9001],
      ['http', 9002],
      ['admin', 9004],
      ['authz', 9003],
    ]);
    expect(tollgate.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(tollgate.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(tollgate.securityContext?.capabilities?.add).toBeUndefined();
    expect(tollgate.securityContext?.privileged).toBeUndefined();
    // From bench/RESULTS.md (see the comment in k8s/base/tollgate-container.yaml); no CPU limit.
    expect(tollgate.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '384Mi' } });
    expect(tollgate.env).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=256 --max-semi-space-size=16' });
  });

  it('mounts the admin token from a Secret as a file and gives tollgate an emptyDir for writes', () => {
    const spec = podSpec(deployment(overlay, TOLLGATE_POD[overlay]));
    const tollgate = container(spec, 'tollgate');
    const volume = (name: string) => spec.volumes?.find((v) => v.name === name);
    const mountAt = (path: string) => tollgate.volumeMounts?.find((m) => m.mountPath === path);

    const config = renderedConfig(overlay);
    const adminMount = mountAt(posix.dirname(config.admin?.tokenFile ?? ''));
    expect(adminMount?.readOnly).toBe(true);
    expect(volume(adminMount?.name ?? '')?.secret?.secretName).toBe('tollgate-admin');
    expect(posix.basename(config.admin?.tokenFile ?? '')).toBe('token');

    const dataMount = mountAt('/var/lib/tollgate');
    expect(volume(dataMount?.name ?? '')?.emptyDir).toBeDefined();
    expect(dataMount?.readOnly).toBeFalsy();
    // Every writable mount is an emptyDir (the root filesystem is read-only).
    for (const m of tollgate.volumeMounts ?? []) {
      if (!m.readOnly) expect(volume(m.name)?.emptyDir, `${m.mountPath} is writable`).toBeDefined();
    }
  });
});

describe('sidecar overlay', () => {
  const overlay = 'k8s/overlays/sidecar';

  it('keeps revocations in a file on the emptyDir', () => {
    const revocation = renderedConfig(overlay).revocation;
    expect(revocation).toMatchObject({ store: 'file', path: '/var/lib/tollgate/revocations.log' });
  });

  it('runs the app, Envoy and tollgate in one pod, with Envoy on examples/envoy/sidecar.yaml calling 127.0.0.1:9001', () => {
    const spec = podSpec(deployment(overlay, 'example-app'));
    expect(spec.containers.map((c) => c.name).sort()).toEqual(['app', 'envoy', 'tollgate']);
    const envoy = container(spec, 'envoy');
    const args = envoy.args ?? [];
    const configPath = args[args.indexOf('--config-path') + 1] ?? args[args.indexOf('-c') + 1];
    expect(configPath).toBe('/etc/envoy/config/sidecar.yaml');

    // The mounted ConfigMap is the example file itself.
    const mount = envoy.volumeMounts?.find((m) => m.mountPath === posix.dirname(configPath ?? ''));
    const cmName = spec.volumes?.find((v) => v.name === mount?.name)?.configMap?.name ?? '';
    const cm = find(objects(overlay), 'ConfigMap', cmName) as unknown as IConfigMap;
    const envoyText = cm.data?.['sidecar.yaml'] ?? '';
    expect(envoyText).toBe(readFileSync(join(REPO, 'examples/envoy/sidecar.yaml'), 'utf8'));

    const bootstrap = parse(envoyText) as EnvoyBootstrap;
    const tollgateCluster = bootstrap.static_resources.clusters.find((c) => c.name === 'tollgate');
    expect(endpointsOf(tollgateCluster)).toEqual(['127.0.0.1:9001']);
    // Envoy owns the pod's port: the container ports are the listeners, the Service exposes only mTLS.
    const listenerPorts = bootstrap.static_resources.listeners.map((l) => l.address.socket_address.port_value).sort();
    expect(envoy.ports?.map((p) => p.containerPort).sort()).toEqual(listenerPorts);
    const service = find(objects(overlay), 'Service', 'example-app') as unknown as IService;
    expect(service.spec?.ports?.map((p) => p.targetPort)).toEqual(['https']);
    expect(envoy.ports?.find((p) => p.name === 'https')?.containerPort).toBe(8443);
    // The app listens on loopback only, where Envoy's app cluster points.
    const appCluster = bootstrap.static_resources.clusters.find((c) => c.name === 'app');
    expect(endpointsOf(appCluster)).toEqual(['127.0.0.1:8080']);
    expect(container(spec, 'app').args?.join(' ')).toContain('127.0.0.1:8080');
    // TLS files come from the mounted certificate Secret.
    const tlsMount = envoy.volumeMounts?.find((m) => m.mountPath === '/etc/envoy/tls');
    expect(spec.volumes?.find((v) => v.name === tlsMount?.name)?.secret?.secretName).toBe('example-app-tls');
    for (const file of envoyText.match(/filename: (\S+) \}/g) ?? []) expect(file).toContain('/etc/envoy/tls/');
  });

  it("admits no one from outside the pod to tollgate's authorization ports (gRPC and HTTP)", () => {
    const np = find(objects(overlay), 'NetworkPolicy', 'example-app') as unknown as INetworkPolicy;
    const podLabels = deployment(overlay, 'example-app').spec?.template.metadata?.labels;
    expect(selects(np.spec?.podSelector, podLabels)).toBe(true);
    expect(np.spec?.policyTypes).toContain('Ingress');
    const rules = np.spec?.ingress ?? [];
    const ports = rules.flatMap((r) => (r.ports ?? []).map((p) => p.port));
    expect(ports).not.toContain(9001);
    expect(ports).not.toContain(9003);
    expect(rules.every((r) => (r.ports ?? []).length > 0)).toBe(true);
    const metricsRule = rules.find((r) => r.ports?.some((p) => p.port === 9002));
    expect(metricsRule?.from?.length).toBeGreaterThan(0);
  });
});

describe('gateway overlay', () => {
  const overlay = 'k8s/overlays/gateway';
  const tollgatePods = () => deployment(overlay, 'tollgate').spec?.template.metadata?.labels;

  it('runs 3 replicas spread across zones and nodes', () => {
    const d = deployment(overlay, 'tollgate');
    expect(d.spec?.replicas).toBe(3);
    expect(d.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const constraints = podSpec(d).topologySpreadConstraints ?? [];
    expect(constraints.map((c) => c.topologyKey).sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const c of constraints) expect(selects(c.labelSelector, tollgatePods())).toBe(true);
    expect(constraints.find((c) => c.topologyKey === 'kubernetes.io/hostname')?.whenUnsatisfiable).toBe('DoNotSchedule');
  });

  it('has a PodDisruptionBudget and an autoscaler for those pods', () => {
    const pdb = find(objects(overlay), 'PodDisruptionBudget', 'tollgate') as unknown as IPodDisruptionBudget;
    expect(selects(pdb.spec?.selector, tollgatePods())).toBe(true);
    expect(pdb.spec?.maxUnavailable).toBe(1);
    const hpa = find(objects(overlay), 'HorizontalPodAutoscaler', 'tollgate') as unknown as IHorizontalPodAutoscaler;
    expect(hpa.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'tollgate' });
    expect(hpa.spec?.minReplicas).toBe(3);
    expect(hpa.spec?.maxReplicas).toBeGreaterThan(3);
    expect(hpa.spec?.metrics?.[0]?.resource?.name).toBe('cpu');
  });

  it('serves every port, all TLS, through a headless Service, for per-request balancing in Envoy', () => {
    const service = find(objects(overlay), 'Service', 'tollgate') as unknown as IService;
    expect(service.spec?.clusterIP).toBe('None');
    expect(selects({ matchLabels: service.spec?.selector }, tollgatePods())).toBe(true);
    // TLS on each (listen.tls, listen.httpTls): nothing may claim h2c or plain http any more.
    expect(service.spec?.ports?.map((p) => [p.port, p.appProtocol])).toEqual([
      [9001, 'https'],
      [9002, 'https'],
      [9003, 'https'],
      [9004, 'https'],
    ]);
    const config = renderedConfig(overlay);
    expect(config.listen.tls).toBeDefined();
    expect(config.listen.httpTls).toBeDefined();
  });

  it("lets only the gateway's pods reach 9001 and 9003, scrapers and the sidecars (JWKS) only 9002, admin clients only 9004", () => {
    const np = find(objects(overlay), 'NetworkPolicy', 'tollgate') as unknown as INetworkPolicy;
    expect(selects(np.spec?.podSelector, tollgatePods())).toBe(true);
    expect(np.spec?.policyTypes).toContain('Ingress');
    const rules = np.spec?.ingress ?? [];
    for (const rule of rules) {
      expect(rule.from?.length, 'every rule names who may connect').toBeGreaterThan(0);
      expect(rule.ports?.length, 'every rule names its ports').toBeGreaterThan(0);
      for (const peer of rule.from ?? []) {
        expect(peer.ipBlock).toBeUndefined();
        expect(Object.keys(peer.podSelector?.matchLabels ?? {}).length, 'a pod selector, never all pods').toBeGreaterThan(0);
      }
    }
    expect([...new Set(rules.flatMap((r) => r.ports?.map((p) => p.port) ?? []))].sort()).toEqual([9001, 9002, 9003, 9004]);

    /** The ports a pod of this namespace with these labels may reach (peers with a namespaceSelector name other namespaces). */
    const reachable = (labels: Record<string, string> | undefined) =>
      [
        ...new Set(
          rules
            .filter((r) => r.from?.some((peer) => !peer.namespaceSelector && selects(peer.podSelector, labels)))
            .flatMap((r) => r.ports?.map((p) => p.port) ?? []),
        ),
      ].sort();
    const gatewayPods = deployment(overlay, 'edge-gateway').spec?.template.metadata?.labels;
    const sidecarPods = deployment('k8s/overlays/sidecar', 'example-app').spec?.template.metadata?.labels;
    // The HTTP authorization port trusts the original request its caller describes: the gateway only.
    expect(reachable(gatewayPods)).toEqual([9001, 9003]);
    // The sidecars' tollgates fetch the JWKS, on the HTTP port; nothing else is open to them, the
    // admin API's port least of all.
    expect(reachable(sidecarPods)).toEqual([9002]);
    expect(reachable({ 'tollgate.io/admin-client': 'true' })).toEqual([9004]);
    expect(renderedConfig(overlay).admin?.listen).toBe('0.0.0.0:9004');
    expect(reachable({ 'app.kubernetes.io/name': 'some-other-app' })).toEqual([]);
    expect(reachable(tollgatePods())).toEqual([]);
    // Prometheus, from its own namespace, on 9002 only.
    const fromMonitoring = rules.filter((r) => r.from?.some((peer) => peer.namespaceSelector));
    expect(fromMonitoring.flatMap((r) => r.ports?.map((p) => p.port))).toEqual([9002]);
  });

  it('shares revocations through a persistent single-replica Redis that only tollgate reaches', () => {
    const revocation = renderedConfig(overlay).revocation;
    expect(revocation?.store).toBe('redis');
    const url = new URL(revocation?.redis?.url ?? '');
    const redis = find(objects(overlay), 'StatefulSet', 'tollgate-redis') as unknown as IStatefulSet;
    expect(redis.spec?.replicas).toBe(1);
    const server = container(podSpec(redis), 'redis');
    const args = [...(server.command ?? []), ...(server.args ?? [])].join(' ');
    expect(args).toContain('--appendonly yes');
    expect(args).toContain('--maxmemory-policy noeviction');
    const dataMount = server.volumeMounts?.find((m) => m.mountPath === '/data');
    expect(redis.spec?.volumeClaimTemplates?.map((t) => t.metadata?.name)).toContain(dataMount?.name);
    // The URL names the Service in front of it.
    const service = find(objects(overlay), 'Service', url.hostname) as unknown as IService;
    expect(service.spec?.ports?.map((p) => p.port)).toContain(Number(url.port));
    expect(selects({ matchLabels: service.spec?.selector }, redis.spec?.template.metadata?.labels)).toBe(true);
    const np = find(objects(overlay), 'NetworkPolicy', 'tollgate-redis') as unknown as INetworkPolicy;
    expect(selects(np.spec?.podSelector, redis.spec?.template.metadata?.labels)).toBe(true);
    const from = np.spec?.ingress?.flatMap((r) => r.from ?? []) ?? [];
    expect(from).toHaveLength(1);
    expect(selects(from[0]?.podSelector, tollgatePods())).toBe(true);
  });

  it('connects to Redis over TLS with a password, both from Secrets; Redis refuses plaintext and unauthenticated clients', () => {
    const redisConfig = renderedConfig(overlay).revocation?.redis;
    expect(redisConfig?.url).toMatch(/^rediss:\/\//);
    const passwordFile = redisConfig?.password?.file;
    const caFile = redisConfig?.tls?.caFile;
    const spec = podSpec(deployment(overlay, 'tollgate'));
    const tollgate = container(spec, 'tollgate');
    const secretAt = (file: string | undefined) => {
      const mount = tollgate.volumeMounts?.find((m) => m.mountPath === posix.dirname(file ?? ''));
      expect(mount?.readOnly, `${file} is mounted read-only`).toBe(true);
      return spec.volumes?.find((v) => v.name === mount?.name)?.secret;
    };
    expect(secretAt(passwordFile)).toMatchObject({
      secretName: 'tollgate-redis',
      items: [{ key: 'password', path: posix.basename(passwordFile ?? '') }],
    });
    // Only the CA: tollgate's pods never mount Redis' private key.
    expect(secretAt(caFile)).toMatchObject({ secretName: 'tollgate-redis-tls', items: [{ key: 'ca.crt', path: 'ca.crt' }] });

    const redis = find(objects(overlay), 'StatefulSet', 'tollgate-redis') as unknown as IStatefulSet;
    const server = container(podSpec(redis), 'redis');
    const args = (server.args ?? []).join(' ');
    expect(args).toContain('--port 0 --tls-port 6379');
    expect(args).toContain('--requirepass $(REDIS_PASSWORD)');
    expect(server.env).toContainEqual({ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'tollgate-redis', key: 'password' } } });
    const tlsMount = server.volumeMounts?.find((m) => args.includes(`--tls-cert-file ${m.mountPath}/tls.crt`));
    expect(podSpec(redis).volumes?.find((v) => v.name === tlsMount?.name)?.secret?.secretName).toBe('tollgate-redis-tls');
  });

  it("points the gateway's Envoy (examples/envoy/gateway-mtls.yaml) at the tollgate Service, over mTLS with the Secrets' identities", () => {
    const spec = podSpec(deployment(overlay, 'edge-gateway'));
    const envoy = container(spec, 'envoy');
    expect(envoy.args).toContain('/etc/envoy/config/gateway-mtls.yaml');
    const cmName = spec.volumes?.find((v) => v.name === 'envoy-config')?.configMap?.name ?? '';
    const text = (find(objects(overlay), 'ConfigMap', cmName) as unknown as IConfigMap).data?.['gateway-mtls.yaml'] ?? '';
    expect(text).toBe(read('examples/envoy/gateway-mtls.yaml'));
    const bootstrap = parse(text) as EnvoyBootstrap;
    const tollgateCluster = bootstrap.static_resources.clusters.find((c) => c.name === 'tollgate');
    const service = find(objects(overlay), 'Service', 'tollgate') as unknown as IService;
    expect(endpointsOf(tollgateCluster)).toEqual([`${service.metadata?.name}:9001`]);
    expect(tollgateCluster?.type).toBe('STRICT_DNS');

    // Envoy presents the certificate of the Secret at /etc/envoy/tls (a whole Secret, a directory it
    // watches), and accepts only tollgate's SPIFFE ID, the URI SAN of tollgate's own Certificate.
    const tls = tollgateCluster?.transport_socket?.typed_config.common_tls_context;
    const envoyTlsDir = posix.dirname(tls?.tls_certificates[0]?.certificate_chain.filename ?? '');
    expect(tls?.tls_certificates[0]?.watched_directory?.path).toBe(envoyTlsDir);
    const mount = envoy.volumeMounts?.find((m) => m.mountPath === envoyTlsDir);
    expect(mount?.subPath).toBeUndefined();
    const envoySecret = spec.volumes?.find((v) => v.name === mount?.name)?.secret;
    expect(envoySecret?.items).toBeUndefined();
    const gatewayCertificate = certificateFor(envoySecret?.secretName ?? '');
    expect(gatewayCertificate?.spec.usages).toContain('client auth');
    const tollgateSpec = podSpec(deployment(overlay, 'tollgate'));
    const config = renderedConfig(overlay);
    const tollgateMount = container(tollgateSpec, 'tollgate').volumeMounts?.find(
      (m) => m.mountPath === posix.dirname(config.listen.tls?.certFile ?? ''),
    );
    const tollgateCertificate = certificateFor(tollgateSpec.volumes?.find((v) => v.name === tollgateMount?.name)?.secret?.secretName ?? '');
    expect(tls?.validation_context.match_typed_subject_alt_names).toEqual(
      (tollgateCertificate?.spec.uris ?? []).map((uri) => ({ san_type: 'URI', matcher: { exact: uri } })),
    );
    // tollgate admits exactly the gateway's identity on gRPC: the one client there, and act.sub of minted tokens.
    expect(config.listen.tls?.clientCaFile).toBeDefined();
    expect(config.listen.tls?.allowedClients).toEqual(gatewayCertificate?.spec.uris);
    // Both certificates come from one Issuer, whose CA is the ca.crt each side trusts.
    expect(tollgateCertificate?.spec.issuerRef).toEqual(gatewayCertificate?.spec.issuerRef);
  });
});

describe('service identity: internal tokens from the gateway, verified by the sidecars', () => {
  const gateway = 'k8s/overlays/gateway';
  const sidecar = 'k8s/overlays/sidecar';

  it('signs with keys from the Secret tollgate-signing-keys, made by `tollgate keys rotate` and never committed', () => {
    const config = renderedConfig(gateway);
    expect(config.internalTokens?.keysDir).toBe('/etc/tollgate-keys');
    const spec = podSpec(deployment(gateway, 'tollgate'));
    const mount = container(spec, 'tollgate').volumeMounts?.find((m) => m.mountPath === config.internalTokens?.keysDir);
    expect(spec.volumes?.find((v) => v.name === mount?.name)?.secret).toMatchObject({ secretName: 'tollgate-signing-keys' });
    // Not a cert-manager Secret, and not in the repository: made by the documented command. No
    // manifest carries a Secret at all (every one is made by a command or by cert-manager).
    expect(certificateFor('tollgate-signing-keys')).toBeUndefined();
    for (const overlay of OVERLAYS) expect(objects(overlay).filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(certManager.filter((o) => o.kind === 'Secret')).toEqual([]);
    const docs = read('docs/deploying.md');
    expect(docs).toContain('keys rotate --dir');
    expect(docs).toContain('tollgate-signing-keys');
    // Readable by tollgate's group only (fsGroup), not world-readable.
    expect(spec.securityContext?.fsGroup).toBe(container(spec, 'tollgate').securityContext?.runAsGroup);
    for (const name of ['tollgate-signing-keys', 'tollgate-tls']) {
      expect(spec.volumes?.find((v) => v.secret?.secretName === name)?.secret?.defaultMode, name).toBe(0o440);
    }
  });

  it("verifies the gateway's internal tokens in the sidecar: its issuer, the internal typ, and the gateway as actor", () => {
    const minter = renderedConfig(gateway).internalTokens;
    const config = renderedConfig(sidecar);
    expect(config.providers).toHaveLength(1);
    const provider = config.providers[0]!;
    expect(provider.issuer).toBe(minter?.issuer);
    expect(provider.typ).toBe(INTERNAL_TOKEN_TYP);
    expect(provider.algorithms).toEqual([minter?.algorithm]);
    // Every rule that needs a user requires the gateway in the token's act chain.
    const gatewayId = renderedConfig(gateway).listen.tls?.allowedClients;
    expect(gatewayId).toHaveLength(1);
    const userRules = config.rules.filter((r) => !r.require?.anonymous);
    expect(userRules.length).toBeGreaterThan(0);
    for (const rule of userRules) expect(rule.require?.actor?.principals, rule.id).toEqual(gatewayId);
    // The audience the gateway mints for is one the sidecar accepts.
    const audiences = renderedConfig(gateway).rules.flatMap((r) => (r.internalToken ? [r.internalToken.audience] : []));
    expect(audiences.length).toBeGreaterThan(0);
    for (const audience of audiences) expect(provider.audiences).toContain(audience);
  });

  it("fetches the JWKS from a Service of the gateway overlay whose port leads to tollgate's HTTPS port", () => {
    const uri = new URL(renderedConfig(sidecar).providers[0]?.jwks?.uri ?? '');
    expect(uri.protocol).toBe('https:');
    expect(uri.pathname).toBe('/.well-known/jwks.json');
    const service = find(objects(gateway), 'Service', uri.hostname) as unknown as IService;
    const servicePort = service.spec?.ports?.find((p) => p.port === Number(uri.port || 443));
    expect(servicePort, `Service ${uri.hostname} has port ${uri.port || 443}`).toBeDefined();
    const tollgateSpec = podSpec(deployment(gateway, 'tollgate'));
    expect(selects({ matchLabels: service.spec?.selector }, deployment(gateway, 'tollgate').spec?.template.metadata?.labels)).toBe(true);
    const containerPort = container(tollgateSpec, 'tollgate').ports?.find((p) => p.name === servicePort?.targetPort)?.containerPort;
    const config = renderedConfig(gateway);
    expect(containerPort).toBe(Number(config.listen.http.split(':').pop()));
    // Only the HTTP port is on this Service.
    expect(service.spec?.ports).toHaveLength(1);
    // tollgate's certificate names the host, and the sidecar trusts its CA (NODE_EXTRA_CA_CERTS).
    const tlsMount = container(tollgateSpec, 'tollgate').volumeMounts?.find(
      (m) => m.mountPath === posix.dirname(config.listen.httpTls?.certFile ?? ''),
    );
    const tollgateCertificate = certificateFor(tollgateSpec.volumes?.find((v) => v.name === tlsMount?.name)?.secret?.secretName ?? '');
    expect(tollgateCertificate?.spec.dnsNames).toContain(uri.hostname);
    const sidecarSpec = podSpec(deployment(sidecar, 'example-app'));
    const sidecarTollgate = container(sidecarSpec, 'tollgate');
    const extraCa = sidecarTollgate.env?.find((e) => e.name === 'NODE_EXTRA_CA_CERTS')?.value ?? '';
    expect(posix.basename(extraCa)).toBe('ca.crt');
    const caMount = sidecarTollgate.volumeMounts?.find((m) => m.mountPath === posix.dirname(extraCa));
    const caCertificate = certificateFor(sidecarSpec.volumes?.find((v) => v.name === caMount?.name)?.secret?.secretName ?? '');
    expect(caCertificate?.spec.issuerRef).toEqual(tollgateCertificate?.spec.issuerRef);
    // The issuer is the same origin, so OIDC discovery ({issuer}/.well-known/openid-configuration) works too.
    expect(new URL(config.internalTokens?.issuer ?? '').origin).toBe(uri.origin);
  });

  it("routes the gateway's requests, with the token minted for the example app, to its Service over mTLS, checking its SPIFFE ID", () => {
    const spec = podSpec(deployment(gateway, 'edge-gateway'));
    const cmName = spec.volumes?.find((v) => v.name === 'envoy-config')?.configMap?.name ?? '';
    const text = (find(objects(gateway), 'ConfigMap', cmName) as unknown as IConfigMap).data?.['gateway-mtls.yaml'] ?? '';
    const bootstrap = parse(text) as EnvoyBootstrap;
    const backend = bootstrap.static_resources.clusters.find((c) => c.name === 'backend');
    const service = find(objects(sidecar), 'Service', 'example-app') as unknown as IService;
    expect(endpointsOf(backend)).toEqual(service.spec?.ports?.map((p) => `${service.metadata?.name}:${p.port}`));
    const tls = backend?.transport_socket?.typed_config.common_tls_context;
    expect(tls?.tls_certificates[0]?.certificate_chain.filename).toBe('/etc/envoy/tls/tls.crt');
    expect(tls?.validation_context.match_typed_subject_alt_names).toEqual(
      (certificateFor('example-app-tls')?.spec.uris ?? []).map((uri) => ({ san_type: 'URI', matcher: { exact: uri } })),
    );
    // The audience minted is that service's, the one its sidecar accepts (above).
    expect(renderedConfig(sidecar).providers[0]?.audiences).toEqual([service.metadata?.name]);
  });

  it('issues every workload certificate with a SPIFFE ID, one per Certificate, and each ID the configs name has one', () => {
    const ids = new Map(certificates().flatMap((c) => (c.spec.uris ?? []).map((uri) => [uri, c.metadata.name] as const)));
    for (const name of ['edge-gateway-tls', 'tollgate-tls', 'example-app-tls']) {
      const uris = certificateFor(name)?.spec.uris ?? [];
      expect(uris, name).toHaveLength(1);
      expect(uris[0]).toMatch(/^spiffe:\/\/cluster\.local\/ns\/[a-z0-9-]+\/sa\/[a-z0-9-]+$/);
    }
    const named = [
      ...(renderedConfig(gateway).listen.tls?.allowedClients ?? []),
      ...renderedConfig(sidecar).rules.flatMap((r) => r.require?.actor?.principals ?? []),
    ];
    expect(named.length).toBeGreaterThan(0);
    for (const id of named) expect(ids.get(id), id).toBe('edge-gateway-tls');
  });
});

interface EnvoyBootstrap {
  static_resources: {
    listeners: Array<{ name: string; address: { socket_address: { address: string; port_value: number } } }>;
    clusters: Array<{
      name: string;
      type?: string;
      load_assignment?: {
        endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }>;
      };
      transport_socket?: {
        typed_config: {
          common_tls_context: {
            tls_certificates: Array<{ certificate_chain: { filename: string }; watched_directory?: { path: string } }>;
            validation_context: { match_typed_subject_alt_names?: unknown[] };
          };
        };
      };
    }>;
  };
}

function endpointsOf(cluster: EnvoyBootstrap['static_resources']['clusters'][number] | undefined): string[] {
  return (cluster?.load_assignment?.endpoints ?? []).flatMap((e) =>
    e.lb_endpoints.map((l) => `${l.endpoint.address.socket_address.address}:${l.endpoint.address.socket_address.port_value}`),
  );
}

/** Every Secret a rendered overlay's pods use: secret volumes and secretKeyRef env. */
function secretsUsed(overlay: string): Set<string> {
  const names = new Set<string>();
  for (const object of objects(overlay)) {
    if (object.kind !== 'Deployment' && object.kind !== 'StatefulSet') continue;
    const spec = podSpec(object as unknown as IDeployment);
    for (const v of spec.volumes ?? []) if (v.secret?.secretName) names.add(v.secret.secretName);
    for (const c of spec.containers)
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef?.name) names.add(e.valueFrom.secretKeyRef.name);
  }
  return names;
}

describe('Secrets each overlay needs', () => {
  it.each(OVERLAYS)('%s: docs/deploying.md names every Secret its pods mount, under that overlay', (overlay) => {
    const docs = readFileSync(join(REPO, 'docs/deploying.md'), 'utf8');
    const section = docs.slice(docs.indexOf('## Secrets'), docs.indexOf('\n## ', docs.indexOf('## Secrets') + 1));
    const mode = overlay.split('/').pop()!;
    const row = section.split('\n').find((line) => line.startsWith(`| ${mode} |`));
    expect(row, `a "| ${mode} |" row in docs/deploying.md "## Secrets"`).toBeDefined();
    for (const name of secretsUsed(overlay)) expect(row).toContain(`\`${name}\``);
  });

  it.each(OVERLAYS)('%s: every TLS Secret is issued by a Certificate in k8s/cert-manager, from an Issuer defined there', (overlay) => {
    const issuers = certManager.filter((o) => o.kind === 'Issuer').map((o) => o.metadata.name);
    const tlsSecrets = [...secretsUsed(overlay)].filter((name) => name.endsWith('-tls'));
    expect(tlsSecrets.length).toBeGreaterThan(0);
    for (const name of tlsSecrets) {
      const certificate = certificateFor(name);
      expect(certificate, `a Certificate for ${name}`).toBeDefined();
      expect(issuers).toContain(certificate!.spec.issuerRef.name);
    }
  });

  it("names the Redis host tollgate connects to in Redis' certificate", () => {
    const host = new URL(renderedConfig('k8s/overlays/gateway').revocation?.redis?.url ?? '').hostname;
    expect(certificateFor('tollgate-redis-tls')?.spec.dnsNames).toContain(host);
  });
});
