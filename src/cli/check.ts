/**
 * `tollgate check`: explain offline how the policy decides one request.
 *
 *   tollgate check --config FILE --path /courses/123/grades [--method GET] [--host H]
 *                  [--header 'name: value']… [--claims JSON [--provider NAME]] [--principal SPIFFE_ID]
 *
 * Exit codes: 0 allowed (also a dry-run would-deny, which is printed), 1 denied, 2 bad input.
 * `--claims` are taken as already verified; `--token` is reserved for verification through the
 * configured providers and is refused until that is wired, rather than trusting an unverified token.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import {
  compilePolicy,
  defaultDecisionSchema,
  formatFieldPath,
  rulesSchema,
  type Decision,
  type Identity,
  type Policy,
} from '../policy/index.js';

export interface CheckIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** A config whose policy part cannot be used; each problem names the field and the fix. */
export class PolicyConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.map((p) => `config: ${p}`).join('\n'));
    this.name = 'PolicyConfigError';
  }
}

/** The policy part of the config file. Other top-level keys belong to the full config and pass here. */
const policySectionSchema = z.object({
  rules: rulesSchema,
  defaultDecision: defaultDecisionSchema,
  dryRun: z.boolean({ error: 'dryRun must be true or false' }).default(false),
});

/** Reads the YAML config, validates `rules`, `defaultDecision` and `dryRun`, compiles the policy. */
export async function loadPolicyFromConfigFile(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PolicyConfigError([`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new PolicyConfigError(doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  const parsed = policySectionSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    throw new PolicyConfigError(
      parsed.error.issues.map((issue) => `${formatFieldPath(issue.path.filter((p) => typeof p !== 'symbol')) || '(top level)'}: ${issue.message}`),
    );
  }
  const { rules, defaultDecision, dryRun } = parsed.data;
  return compilePolicy(rules, { defaultDecision, dryRun });
}

const USAGE =
  'usage: tollgate check --config FILE --path PATH [--method GET] [--host HOST] [--header "name: value"]... ' +
  '[--claims JSON [--provider NAME]] [--principal SPIFFE_ID]';

class BadInput extends Error {}

interface CheckInput {
  config: string;
  method: string;
  host: string;
  path: string;
  headers: Map<string, string>;
  identity: Identity | null;
  principal: string | undefined;
}

function parseInput(argv: string[]): CheckInput {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        method: { type: 'string', default: 'GET' },
        host: { type: 'string', default: '' },
        path: { type: 'string' },
        header: { type: 'string', multiple: true, default: [] },
        claims: { type: 'string' },
        provider: { type: 'string', default: '' },
        principal: { type: 'string' },
        token: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new BadInput((error as Error).message);
  }
  if (values.token !== undefined) {
    throw new BadInput('--token is not supported yet: pass the verified claims with --claims \'{"sub":"…"}\' (and --provider NAME)');
  }
  if (!values.config) throw new BadInput('--config FILE is required');
  if (!values.path) throw new BadInput('--path is required, e.g. --path /courses/123/grades');

  const headers = new Map<string, string>();
  for (const header of values.header) {
    const colon = header.indexOf(':');
    if (colon <= 0) throw new BadInput(`--header "${header}": write it as "name: value"`);
    headers.set(header.slice(0, colon).trim().toLowerCase(), header.slice(colon + 1).trim());
  }

  let identity: Identity | null = null;
  if (values.claims !== undefined) {
    let claims: unknown;
    try {
      claims = JSON.parse(values.claims);
    } catch {
      throw new BadInput('--claims must be a JSON object, e.g. --claims \'{"sub":"u1","roles":["teacher"]}\'');
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      throw new BadInput('--claims must be a JSON object, e.g. --claims \'{"sub":"u1"}\'');
    }
    identity = { provider: values.provider, claims: claims as Record<string, unknown> };
  }

  return {
    config: values.config,
    method: values.method,
    host: values.host,
    path: values.path,
    headers,
    identity,
    principal: values.principal,
  };
}

const STATUS_TEXT = { unauthenticated: '401 UNAUTHENTICATED', permission_denied: '403 PERMISSION_DENIED' } as const;

function render(decision: Decision): string {
  const lines: string[] = [];
  if (decision.allowed) {
    lines.push(decision.dryRun ? `decision: allow (dry run: would deny, ${STATUS_TEXT[decision.dryRun.status]}, ${decision.dryRun.reason})` : 'decision: allow');
  } else {
    const status = decision.status === 'ok' ? 'OK' : STATUS_TEXT[decision.status];
    lines.push(`decision: deny (${status}, ${decision.reason})`);
  }
  lines.push(`rule: ${decision.ruleId ?? '(none)'}`);
  lines.push(`reason: ${decision.reason}`);
  lines.push('why:');
  for (const sentence of decision.explanation ?? []) lines.push(`  ${sentence}`);
  return `${lines.join('\n')}\n`;
}

export async function runCheck(
  argv: string[],
  io: CheckIo,
  loadPolicy: (path: string) => Promise<Policy> = loadPolicyFromConfigFile,
): Promise<number> {
  let input: CheckInput;
  try {
    input = parseInput(argv);
  } catch (error) {
    if (!(error instanceof BadInput)) throw error;
    io.stderr(`tollgate check: ${error.message}\n${USAGE}\n`);
    return 2;
  }

  let policy: Policy;
  try {
    policy = await loadPolicy(input.config);
  } catch (error) {
    if (!(error instanceof PolicyConfigError)) throw error;
    io.stderr(`${error.message}\n`);
    return 2;
  }

  if (input.identity) io.stdout('claims: taken as verified (from --claims)\n');
  const decision = policy.authorize(
    { method: input.method, host: input.host, path: input.path, headers: input.headers, principal: input.principal },
    input.identity,
    { explain: true },
  );
  io.stdout(render(decision));
  return decision.allowed ? 0 : 1;
}
