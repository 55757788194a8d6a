/** The gateway overlay's Sentinel variant (k8s/overlays/gateway-sentinel): what tollgate is told matches what is deployed. */
import { posix } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { find, render, requireKubectl, selects, type K8sObject } from '../deploy/kustomize.js';

const OVERLAY = 'k8s/overlays/gateway-sentinel';

describe('gateway-sentinel overlay', () => {
  let objects: K8sObject[];
  beforeAll(() => {
    requireKubectl();
    objects = render(OVERLAY);
  });
  const statefulSet = (name: string) => find(objects, 'StatefulSet', name) as unknown as IStatefulSet;
  const config = () => {
    const text = (find(objects, 'ConfigMap', 'tollgate-config') as unknown as IConfigMap).data?.['tollgate.yaml'] ?? '';
    return parseConfig(text, '/etc/tollgate');
  };

  it('replaces the single Redis with two Redis pods and three sentinels', () => {
    expect(objects.some((o) => o.metadata.name === 'tollgate-redis')).toBe(false);
    expect(statefulSet('tollgate-redis-ha').spec?.replicas).toBe(2);
    expect(statefulSet('tollgate-sentinel').spec?.replicas).toBe(3);
    const script = statefulSet('tollgate-sentinel').spec?.template.spec?.containers[0]?.args?.join('\n') ?? '';
    const redisConfig = config().revocation?.redis;
    // tollgate asks for the primary under the name the sentinels monitor, at the sentinels' pod names.
    expect(script).toContain(`sentinel monitor ${redisConfig?.sentinel?.masterName} `);
    const service = find(objects, 'Service', 'tollgate-sentinel') as unknown as IService;
    expect(statefulSet('tollgate-sentinel').spec?.serviceName).toBe(service.metadata?.name);
    expect(redisConfig?.sentinel?.sentinels).toEqual([0, 1, 2].map((i) => `tollgate-sentinel-${i}.tollgate-sentinel:26379`));
    expect(redisConfig?.minReplicasAcked).toBe(1);
  });

  it('gives tollgate the Redis password from the Secret as a file, never inline', () => {
    const redisConfig = config().revocation?.redis;
    const file = redisConfig?.password?.file ?? '';
    expect(redisConfig?.sentinel?.sentinelPassword?.file).toBe(file);
    const spec = (find(objects, 'Deployment', 'tollgate') as unknown as IDeployment).spec?.template.spec;
    const tollgate = spec?.containers.find((c) => c.name === 'tollgate');
    const mount = tollgate?.volumeMounts?.find((m) => m.mountPath === posix.dirname(file));
    expect(mount?.readOnly).toBe(true);
    expect(spec?.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName).toBe('tollgate-redis');
    // The Redis pods read the same Secret; no password appears in any rendered object.
    for (const name of ['tollgate-redis-ha', 'tollgate-sentinel']) {
      expect(statefulSet(name).spec?.template.spec?.volumes?.some((v) => v.secret?.secretName === 'tollgate-redis')).toBe(true);
    }
    expect(JSON.stringify(objects)).not.toMatch(/requirepass [^$]/);
  });

  it('admits only tollgate and the store itself to Redis and the sentinels', () => {
    const policy = find(objects, 'NetworkPolicy', 'tollgate-redis-sentinel') as unknown as INetworkPolicy;
    for (const name of ['tollgate-redis-ha', 'tollgate-sentinel']) {
      expect(selects(policy.spec?.podSelector, statefulSet(name).spec?.template.metadata?.labels)).toBe(true);
    }
    const tollgateLabels = (find(objects, 'Deployment', 'tollgate') as unknown as IDeployment).spec?.template.metadata?.labels;
    const from = policy.spec?.ingress?.[0]?.from ?? [];
    expect(from.some((peer) => selects(peer.podSelector, tollgateLabels))).toBe(true);
    expect(policy.spec?.ingress?.[0]?.ports?.map((p) => p.port)).toEqual([6379, 26379]);
  });
});
