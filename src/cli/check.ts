/**
 * `tollgate check`: explains offline how tollgate decides one request, through the same pipeline the
 * server runs (token verification against the configured keys, policy, response headers).
 *
 *   tollgate check --config FILE --path /courses/123/grades [--method GET] [--host H]
 *                  [--header 'name: value']... [--token TOKEN | --claims JSON] [--provider NAME]
 *                  [--principal SPIFFE_ID]
 *
 * Exit codes: 0 allowed (a dry-run would-deny is allowed, and printed), 1 denied, 2 bad input.
 * `--claims` are taken as already verified; `--token` (a JWT, an opaque token or an API key) is
 * verified like a request's token, sent where `--provider` reads tokens when it is given.
 * Revocations are not consulted: they live in the running servers' store.
 */
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import type { Decision } from '../policy/index.js';
import type { Outcome } from '../pipeline/respond.js';
import type { CheckResponse } from '../envoy/types.js';
import { EXIT_DENIED, EXIT_OK, UsageError, type CliIo } from './io.js';
import { decideOffline, offlineRuntime, OfflineInputError, type OfflineDecision, type OfflineRequest } from './offline.js';

export const OPTIONS = {
  config: { type: 'string' },
  method: { type: 'string', default: 'GET' },
  host: { type: 'string', default: '' },
  path: { type: 'string' },
  header: { type: 'string', multiple: true, default: [] as string[] },
  token: { type: 'string' },
  claims: { type: 'string' },
  provider: { type: 'string' },
  principal: { type: 'string' },
} as const;

interface CheckInput extends OfflineRequest {
  config: string;
}

function parseInput(argv: string[]): CheckInput {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: OPTIONS,
  });
  if (!values.config) throw new UsageError('--config FILE is required');
  if (!values.path) throw new UsageError('--path is required, e.g. --path /courses/123/grades');
  if (values.token !== undefined && values.claims !== undefined) throw new UsageError('give --token or --claims, not both');
  if (values.provider !== undefined && values.claims === undefined && values.token === undefined)
    throw new UsageError('--provider goes with --claims or --token');

  const headers = new Map<string, string[]>();
  for (const header of values.header) {
    const colon = header.indexOf(':');
    if (colon <= 0) throw new UsageError(`--header "${header}": write it as "name: value"`);
    const name = header.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), header.slice(colon + 1).trim()]);
  }
  let claims: Record<string, unknown> | undefined;
  if (values.claims !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values.claims);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new UsageError('--claims must be a JSON object, e.g. --claims \'{"sub":"u1","roles":["teacher"]}\'');
    }
    claims = parsed as Record<string, unknown>;
  }
  return {
    config: values.config,
    view: { method: values.method.toUpperCase(), host: values.host, path: values.path, headers, principal: values.principal },
    token: values.token,
    claims,
    provider: values.provider,
  };
}

export async function runCheck(argv: string[], io: CliIo): Promise<number> {
  const input = parseInput(argv);
  const { config } = loadConfigFile(input.config);
  const runtime = offlineRuntime(config);
  try {
    if (input.token !== undefined) await runtime.start();
    const onUnsafeClaim = (header: string, claim: string) =>
      io.stderr(`warning: claim ${claim} is not a safe value for header ${header}; it would not be injected`);
    let result: OfflineDecision;
    try {
      result = await decideOffline(runtime, input, onUnsafeClaim);
    } catch (err) {
      if (err instanceof OfflineInputError) throw new UsageError(`--${err.field}: ${err.message}`);
      throw err;
    }
    if (result.preset) io.stdout('claims: taken as verified (from --claims)');
    io.stdout(render(result.outcome, result.decision, result.response));
    return result.outcome.kind === 'allow' ? EXIT_OK : EXIT_DENIED;
  } finally {
    runtime.stop();
  }
}

function render(outcome: Outcome, decision: Decision | undefined, response: CheckResponse): string {
  const lines: string[] = [];
  if (outcome.kind === 'allow') {
    lines.push(outcome.dryRunReason ? `decision: allow (dry run: would deny, ${outcome.dryRunReason})` : 'decision: allow');
  } else {
    const http = response.denied_response?.status?.code;
    lines.push(`decision: deny (HTTP ${http}, gRPC status ${response.status?.code}, ${response.status?.message})`);
  }
  lines.push(`rule: ${decision?.ruleId ?? '(none)'}`);
  if (decision?.rollout)
    lines.push(`rollout: ${decision.rollout.arm} arm (the rule is enforced for ${decision.rollout.enforcePercent}% of subjects)`);
  if (decision) {
    lines.push(`reason: ${decision.reason}`);
    lines.push('why:');
    for (const sentence of decision.explanation ?? []) lines.push(`  ${sentence}`);
  } else {
    lines.push(`reason: ${outcome.kind === 'unauthenticated' ? outcome.reason : outcome.kind}`);
    lines.push('why:', '  the token was refused before the policy was consulted');
  }
  const ok = response.ok_response;
  if (ok) {
    lines.push('headers injected:');
    for (const h of ok.headers ?? []) lines.push(`  ${h.header?.key}: ${h.header?.value}`);
    if ((ok.headers ?? []).length === 0) lines.push('  (none)');
    lines.push(`headers removed: ${(ok.headers_to_remove ?? []).join(', ') || '(none)'}`);
    for (const h of ok.response_headers_to_add ?? []) lines.push(`response header: ${h.header?.key}: ${h.header?.value}`);
  } else {
    for (const h of response.denied_response?.headers ?? []) lines.push(`response header: ${h.header?.key}: ${h.header?.value}`);
    lines.push(`response body: ${response.denied_response?.body}`);
  }
  return lines.join('\n');
}
