import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * The ext_authz `context_extensions` an Envoy bootstrap in examples/envoy sets on a listener's first
 * virtual host: what each of its Checks carries in `attributes.context_extensions`. Tests build their
 * CheckRequests with it, so they exercise the shipped wiring rather than a copy of it.
 */
export function listenerContextExtensions(file: string, listener: string): Record<string, string> {
  // The example's shape is checked against Envoy's protos in test/deploy/envoy-config.test.ts.

  const bootstrap = parse(readFileSync(new URL(`../../examples/envoy/${file}`, import.meta.url), 'utf8'));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const found = (bootstrap.static_resources.listeners as any[]).find((l) => l.name === listener);
  if (!found) throw new Error(`${file}: no listener ${listener}`);
  const hcm = found.filter_chains[0].filters[0].typed_config;
  const perRoute = hcm.route_config.virtual_hosts[0].typed_per_filter_config?.['envoy.filters.http.ext_authz'];
  return (perRoute?.check_settings?.context_extensions ?? {}) as Record<string, string>;
}
