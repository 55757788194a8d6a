/**
 * k8s/monitoring: the component renders into an overlay, its PodMonitor and PrometheusRule validate
 * against the Prometheus Operator's schemas (@kubernetes-models/prometheus-operator), the PodMonitor
 * scrapes the tollgate container's HTTP port, every alert passes `promtool test rules`
 * (test/monitoring/promtool-tests.yaml, each alert firing and not firing, with the real promtool) and
 * has a runbook_url naming a heading of docs/operations.md.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import type { IPodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO, find, render, requireKubectl, selects, type K8sObject } from '../deploy/kustomize.js';
import { anchorsOf } from '../helpers/markdown.js';

const PROMTOOL = process.env.TOLLGATE_TEST_PROMTOOL ?? '/usr/bin/promtool';
const INSTALL_HINT =
  "promtool is required by the alert tests: install Debian's `prometheus` package (.ci/run does), or set TOLLGATE_TEST_PROMTOOL";
const RUNBOOKS = 'https://github.com/tollgate/tollgate/blob/main/docs/operations.md#';
const PROMTOOL_TESTS = join(REPO, 'test/monitoring/promtool-tests.yaml');

let dir: string;
let objects: K8sObject[] = [];
const rule = () => find(objects, 'PrometheusRule', 'tollgate') as unknown as IPrometheusRule;
const alerts = () => (rule().spec?.groups ?? []).flatMap((g) => g.rules ?? []).filter((r) => r.alert !== undefined);

/** The gateway overlay with k8s/monitoring added, as a user's overlay would (kustomize refuses absolute paths). */
function renderWithMonitoring(overlay: string): K8sObject[] {
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [relative(dir, join(REPO, overlay))],
    components: [relative(dir, join(REPO, 'k8s/monitoring'))],
  };
  writeFileSync(join(dir, 'kustomization.yaml'), stringify(kustomization));
  return render(relative(REPO, dir));
}

function promtool(args: string[], cwd: string): string {
  try {
    return execFileSync(PROMTOOL, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

beforeAll(() => {
  requireKubectl();
  if (!existsSync(PROMTOOL)) throw new Error(INSTALL_HINT);
  dir = mkdtempSync(join(tmpdir(), 'tollgate-monitoring-'));
  objects = renderWithMonitoring('k8s/overlays/gateway');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('k8s/monitoring in the gateway overlay', () => {
  it('adds a PodMonitor, a PrometheusRule and the dashboard ConfigMap, each valid against its schema', () => {
    const podMonitor = find(objects, 'PodMonitor', 'tollgate');
    expect(() => new PodMonitor(podMonitor as never).validate()).not.toThrow();
    expect(() => new PrometheusRule(rule() as never).validate()).not.toThrow();
    // The schemas refuse a wrong shape (a rule without expr) but, as the CRDs, not an unknown field:
    // that is checked here against the Rule fields the operator documents.
    expect(() =>
      new PrometheusRule({ ...rule(), spec: { groups: [{ name: 'x', rules: [{ alert: 'A' }] }] } } as never).validate(),
    ).toThrow();
    const RULE_FIELDS = ['alert', 'record', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'];
    for (const r of rule().spec?.groups?.flatMap((g) => g.rules ?? []) ?? [])
      expect(RULE_FIELDS, r.alert).toEqual(expect.arrayContaining(Object.keys(r)));
    const dashboard = find(objects, 'ConfigMap', 'tollgate-grafana-dashboard') as unknown as IConfigMap;
    expect(dashboard.metadata?.labels?.grafana_dashboard).toBe('1');
    expect(JSON.parse(dashboard.data?.['tollgate.json'] ?? '')).toEqual(
      JSON.parse(readFileSync(join(REPO, 'k8s/monitoring/grafana-dashboard.json'), 'utf8')),
    );
  });

  it("scrapes the tollgate pods' HTTP port, where /metrics is served, over HTTPS", () => {
    const podMonitor = find(objects, 'PodMonitor', 'tollgate') as unknown as IPodMonitor;
    const deployment = find(objects, 'Deployment', 'tollgate') as unknown as IDeployment;
    expect(selects(podMonitor.spec.selector, deployment.spec?.template.metadata?.labels)).toBe(true);
    const tollgate = deployment.spec?.template.spec?.containers.find((c) => c.name === 'tollgate');
    const endpoint = podMonitor.spec.podMetricsEndpoints?.[0];
    const port = tollgate?.ports?.find((p) => p.name === endpoint?.port);
    const config = parse((find(objects, 'ConfigMap', 'tollgate-config') as unknown as IConfigMap).data?.['tollgate.yaml'] ?? '') as {
      listen: { http: string; httpTls?: unknown };
    };
    expect(port?.containerPort).toBe(Number(config.listen.http.split(':').pop()));
    expect(endpoint?.path).toBe('/metrics');
    expect(endpoint?.scheme).toBe(config.listen.httpTls ? 'https' : 'http');
    // Only tollgate's container has a port of that name: the PodMonitor scrapes nothing else in a sidecar pod.
    const sidecarPods = renderWithMonitoring('k8s/overlays/sidecar');
    const app = find(sidecarPods, 'Deployment', 'example-app') as unknown as IDeployment;
    expect(selects(podMonitor.spec.selector, app.spec?.template.metadata?.labels)).toBe(true);
    const named = app.spec?.template.spec?.containers.filter((c) => c.ports?.some((p) => p.name === endpoint?.port)).map((c) => c.name);
    expect(named).toEqual(['tollgate']);
  });

  it('names the alerts the issue asks for, each with a severity, a summary and a runbook in docs/operations.md', () => {
    expect(
      alerts()
        .map((a) => a.alert)
        .sort(),
    ).toEqual(
      [
        'TollgateCertificateExpiringSoon',
        'TollgateCheckLatencyHigh',
        'TollgateConfigReloadFailing',
        'TollgateContextSourceFailing',
        'TollgateDecisionLogDropping',
        'TollgateDenialsSpiking',
        'TollgateInternalTokenMintFailures',
        'TollgateProviderKeysStale',
        'TollgateProviderKeysUnusable',
        'TollgateRevocationStoreUnreachable',
        'TollgateRevocationsStale',
      ].sort(),
    );
    const anchors = anchorsOf(join(REPO, 'docs/operations.md'));
    for (const alert of alerts()) {
      expect(['critical', 'warning'], alert.alert).toContain(alert.labels?.severity);
      expect(alert.annotations?.summary, alert.alert).toBeTruthy();
      const url = alert.annotations?.runbook_url ?? '';
      expect(url.startsWith(RUNBOOKS), `${alert.alert}: ${url}`).toBe(true);
      const anchor = url.slice(RUNBOOKS.length);
      expect(anchors.has(anchor), `${alert.alert}: no heading #${anchor} in docs/operations.md`).toBe(true);
      // One runbook per alert: its heading is the alert's name.
      expect(anchor).toBe(alert.alert!.toLowerCase());
    }
  });

  it('passes promtool: the rules and their templates check, and every alert fires and stays silent as its unit tests say', () => {
    const work = mkdtempSync(join(dir, 'promtool-'));
    // With annotations, for `check rules` (it parses their templates).
    writeFileSync(join(work, 'full.yaml'), stringify({ groups: rule().spec?.groups }));
    expect(promtool(['check', 'rules', 'full.yaml'], work)).toContain(
      `SUCCESS: ${rule().spec?.groups?.flatMap((g) => g.rules).length} rules found`,
    );
    // Without, for `test rules`, which compares annotations whole.
    const bare = (rule().spec?.groups ?? []).map((g) => ({ ...g, rules: (g.rules ?? []).map(({ annotations: _, ...r }) => r) }));
    writeFileSync(join(work, 'tollgate-rules.yaml'), stringify({ groups: bare }));
    cpSync(PROMTOOL_TESTS, join(work, 'promtool-tests.yaml'));
    expect(promtool(['test', 'rules', 'promtool-tests.yaml'], work)).toContain('SUCCESS');
  });

  it('has promtool tests where each alert fires and where it does not', () => {
    interface AlertTest {
      alertname: string;
      exp_alerts?: unknown[];
    }
    const tests = (parse(readFileSync(PROMTOOL_TESTS, 'utf8')) as { tests: Array<{ alert_rule_test?: AlertTest[] }> }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of alerts()) {
      const mine = cases.filter((c) => c.alertname === alert.alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert.alert} firing`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert.alert} not firing`,
      ).toBe(true);
    }
  });
});
