import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** kustomize features the manifests use: Components (v3.7), replacements with delimiter (v4.5.x), labelSelector patches. */
const MIN_KUSTOMIZE_MAJOR = 5;

const INSTALL_HINT =
  "The deploy tests need kubectl with its embedded kustomize v5 or later (kubectl 1.27+). Debian's " +
  '`kubernetes-client` package is kubectl 1.20 (kustomize v2) and is too old; install the `kubectl` package ' +
  'from the Kubernetes apt repository (https://pkgs.k8s.io/core:/stable:/v1.32/deb/), or the kubectl binary ' +
  'from https://dl.k8s.io/release/v1.32.4/bin/linux/amd64/kubectl into /usr/local/bin.';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

let checked = false;

/** Fails (never skips) with what to install when kubectl is missing or its kustomize is too old. */
export function requireKubectl(): void {
  if (checked) return;
  let out: string;
  try {
    out = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`kubectl is not available (${code ?? String(err)}). ${INSTALL_HINT}`, { cause: err });
  }
  const match = /Kustomize Version: v?(\d+)\./.exec(out);
  if (!match || Number(match[1]) < MIN_KUSTOMIZE_MAJOR) {
    throw new Error(`kubectl's kustomize is too old or unknown (${out.trim().replace(/\n/g, '; ')}). ${INSTALL_HINT}`);
  }
  checked = true;
}

/** `kubectl kustomize DIR` (relative to the repository), parsed into objects. */
export function render(dir: string): K8sObject[] {
  requireKubectl();
  const text = execFileSync('kubectl', ['kustomize', dir], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: ${doc.errors[0]!.message}`);
    return doc.toJS() as K8sObject;
  });
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** A label selector's matchLabels all hold for these labels (and it is not empty: empty selects everything). */
export function selects(
  selector: { matchLabels?: Record<string, string> } | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  const wanted = Object.entries(selector?.matchLabels ?? {});
  return wanted.length > 0 && wanted.every(([k, v]) => labels?.[k] === v);
}
