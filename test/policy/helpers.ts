import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { compilePolicy, rulesSchema, type AuthzRequest, type Policy, type RuleConfig } from '../../src/policy/index.js';

export const EDTECH_CONFIG = fileURLToPath(new URL('./fixtures/edtech.yaml', import.meta.url));

export function fixture(name: string): string {
  return readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');
}

/** The ed-tech rules, parsed through the public schema exactly as a config file would be. */
export function edtechRules(): RuleConfig[] {
  const doc = parse(fixture('edtech.yaml')) as { rules: unknown };
  return rulesSchema.parse(doc.rules);
}

export function edtechPolicy(options: { dryRun?: boolean } = {}): Policy {
  return compilePolicy(edtechRules(), { defaultDecision: 'deny', ...options });
}

export function request(method: string, path: string, extra: Partial<AuthzRequest> = {}): AuthzRequest {
  return { method, path, host: 'api.example.com', headers: new Map(), ...extra };
}
