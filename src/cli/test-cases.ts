/**
 * Policy test case files for `tollgate test`: YAML, validated strictly, every error naming the file,
 * the case (index and name) and the field.
 *
 *   config: tollgate.yaml            # optional; relative to this file; --config overrides it
 *   cases:
 *     - name: teacher reads own course
 *       request: { method: GET, path: /courses/123/grades, host: api.local, headers: {}, principal: spiffe://... }
 *       claims: { sub: alice }         # or token: <JWT>, or neither
 *       provider: dev                  # with claims, when the config has several providers
 *       expect: { decision: allow, rule: course-grades, reason: allowed, headers: { x-user-id: alice } }
 *       # expect.arm: enforced | shadow, the rollout arm of a rule with `rollout`
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readYaml } from '../util/yaml.js';
import { z } from 'zod';
import { formatPath } from '../util/config-error.js';

/** A case file that cannot be used; one line per problem. The CLI exits with code 2. */
export class CaseFileError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'CaseFileError';
  }
}

const text = (what: string) => z.string({ error: `${what} must be a string` }).min(1, { error: `${what} must not be empty` });

const requestSchema = z.strictObject(
  {
    method: text('method').default('GET'),
    path: text('path').refine((p) => p.startsWith('/'), { error: 'path must start with "/"' }),
    host: z.string({ error: 'host must be a string' }).default(''),
    headers: z
      .record(z.string(), z.union([z.string(), z.array(z.string())], { error: 'a header value must be a string or a list of strings' }), {
        error: 'headers must be a mapping of name to value',
      })
      .default({}),
    principal: text('principal').optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key(s) ${issue.keys.join(', ')}; allowed: method, path, host, headers, principal`
        : 'request must be a mapping with at least path',
  },
);

const expectSchema = z
  .strictObject(
    {
      decision: z.enum(['allow', 'deny'], { error: 'decision must be "allow" or "deny"' }),
      rule: z.union([text('rule'), z.null()], { error: 'rule must be a rule id, or null for "no rule decided"' }).optional(),
      reason: text('reason').optional(),
      status: z.union([z.literal(401), z.literal(403)], { error: 'status must be 401 or 403' }).optional(),
      arm: z.enum(['enforced', 'shadow'], { error: 'arm must be "enforced" or "shadow"' }).optional(),
      headers: z
        .record(
          z.string(),
          z.union([z.string(), z.null()], { error: 'an expected header value must be a string, or null for "not injected"' }),
          {
            error: 'headers must be a mapping of name to expected value',
          },
        )
        .optional(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown key(s) ${issue.keys.join(', ')}; allowed: decision, rule, reason, status, arm, headers`
          : 'expect must be a mapping with at least decision',
    },
  )
  .superRefine((expect, ctx) => {
    if (expect.decision === 'allow' && expect.status !== undefined)
      ctx.addIssue({ code: 'custom', path: ['status'], message: 'status is for denials (401 or 403); an allowed request has none' });
    if (expect.decision === 'deny' && expect.headers !== undefined)
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'headers are injected only on allow' });
  });

const caseSchema = z
  .strictObject(
    {
      name: text('name'),
      request: requestSchema,
      claims: z.record(z.string(), z.unknown(), { error: 'claims must be a mapping of claim name to value' }).optional(),
      token: text('token').optional(),
      provider: text('provider').optional(),
      expect: expectSchema,
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown key(s) ${issue.keys.join(', ')}; allowed: name, request, claims, token, provider, expect`
          : 'a case must be a mapping with name, request and expect',
    },
  )
  .superRefine((c, ctx) => {
    if (c.claims !== undefined && c.token !== undefined)
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'give claims or token, not both' });
    if (c.provider !== undefined && c.claims === undefined)
      ctx.addIssue({ code: 'custom', path: ['provider'], message: 'provider goes with claims' });
  });

const fileSchema = z.strictObject(
  {
    config: text('config').optional(),
    cases: z.array(z.unknown(), { error: 'cases must be a list of cases' }).min(1, { error: 'cases must list at least one case' }),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key(s) ${issue.keys.join(', ')}; allowed: config, cases`
        : 'a case file must be a mapping with cases',
  },
);

export type TestCase = z.infer<typeof caseSchema>;

export interface CaseFile {
  /** As given on the command line, for messages. */
  path: string;
  /** Absolute path of the config named in the file, if any. */
  config?: string;
  cases: TestCase[];
}

/** Reads and validates a case file; throws CaseFileError naming the file, the case and the field. */
export function loadCaseFile(path: string): CaseFile {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CaseFileError([`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  const yaml = readYaml(source);
  if (!yaml.ok) throw new CaseFileError([`${path}: YAML: ${yaml.message}`]);
  const file = fileSchema.safeParse(yaml.value ?? {});
  if (!file.success) throw new CaseFileError(file.error.issues.map((i) => `${path}: ${formatPath(i.path) || '(top level)'}: ${i.message}`));

  const problems: string[] = [];
  const cases: TestCase[] = [];
  const names = new Map<string, number>();
  file.data.cases.forEach((raw, index) => {
    const name = (raw as { name?: unknown } | null)?.name;
    const where = `${path}: cases[${index}]${typeof name === 'string' ? ` "${name}"` : ''}`;
    const parsed = caseSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${where}: ${formatPath(issue.path) || '(case)'}: ${issue.message}`);
      return;
    }
    const first = names.get(parsed.data.name);
    if (first !== undefined) problems.push(`${where}: name: duplicate case name (also cases[${first}]); names identify cases in reports`);
    else names.set(parsed.data.name, index);
    cases.push(parsed.data);
  });
  if (problems.length > 0) throw new CaseFileError(problems);
  return { path, config: file.data.config === undefined ? undefined : resolve(dirname(path), file.data.config), cases };
}
