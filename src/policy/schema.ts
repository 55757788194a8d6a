/**
 * The `rules:` and `defaultDecision:` sections of the config, and their meaning.
 *
 * Evaluation
 * - Rules are tried in order; the FIRST rule whose `match` fits the request decides, allow or deny.
 *   Later rules are not consulted. Put specific rules before general ones.
 * - No rule matches: `defaultDecision` decides (`deny` → 403 `no_matching_rule`; default `deny`).
 * - Every decision uses one normalized path (see `normalizePath` in path.ts): query and fragment
 *   ignored; encodings of characters allowed raw in a path decoded (`%61` → `a`, `%3A` → `:`); `//`
 *   merged; trailing `/` ignored; `.`/`..` resolved. Paths with `%2F`, `%5C`, `\`, NUL or other control
 *   characters, `;`, malformed `%`, `//..`, or `..` above the root are denied before any rule
 *   (403 `invalid_path`, rule id null), also in dry-run mode.
 *
 * `match` (all given fields must fit; at least one field is required — `paths: ["/**"]` matches all)
 * - `direction`: `inbound` or `egress`, the `direction` context extension the Envoy listener sets
 *   (`ExtAuthzPerRoute.check_settings.context_extensions`); a request without one matches neither.
 *   The client cannot choose it, unlike `Host`: an `exchange: true` internal token requires `egress`.
 * - `hosts`: case-insensitive; the request's port and a trailing dot are ignored; `*.example.com`
 *   matches any subdomain (not `example.com` itself).
 * - `methods`: compared upper-case. `GET` also matches `HEAD`, because most frameworks answer HEAD with
 *   the GET handler; list `HEAD` in an earlier rule to treat it differently.
 * - `paths`: templates, any one of which must match. Segments are literal, `{name}` (one segment,
 *   bound as a parameter, percent-decoded), `*` (one segment) or a final `**` (zero or more segments:
 *   `/admin/**` also matches `/admin`). Parameters fill a whole segment. Matching is case-sensitive.
 * - `headers`: list of `{ name, equals | oneOf | present }`, all must hold. Names are case-insensitive;
 *   values compared exactly; `present: false` requires the header to be absent. Headers come from the
 *   client: a header condition narrows a rule, it does not prove anything.
 *
 * `require` (mandatory: a rule states who may pass; every listed requirement must hold)
 * - `anonymous: true` — open route, no identity needed. Must stand alone. A token sent anyway is still
 *   verified by the pipeline before the policy runs.
 * - `authenticated: true` — a verified token from any provider.
 * - `providers: [name]` — the token came from one of these providers.
 * - `scopes: { allOf?, anyOf? }` — from the `scope` claim (space-separated) and the `scp` claim (array
 *   or space-separated string), merged.
 * - `roles: { claim?, allOf?, anyOf? }` — flat roles at claim path `claim` (default `roles`): an array
 *   of strings or one string. Context roles (an object at that path) do not count as flat roles.
 * - `claims: [{ path, equals | oneOf | contains }]` — `equals`/`oneOf` compare a scalar claim exactly
 *   (`true` is not `"true"`); `contains` needs an array claim holding the value (a single scalar claim
 *   equal to the value also counts).
 * - `contextRole: { claim?, context, id, anyOf }` — the token's `claim` (default `roles`) must be an
 *   object like `{"course": {"teacher": ["123"], "ta": ["246"]}}`; allowed when the id — a literal or
 *   a template of path parameters such as `"{courseId}"` — is listed under `context` for one of the
 *   `anyOf` roles. Ids in the token may be strings or integers. A flat role never satisfies it. Every
 *   parameter in `id` must be bound by every path of the rule. With `fallback: <source>`, a token
 *   that grants no role for this context and id is decided by the roles that context source answers
 *   for the token's `sub` (see src/context); a token that lists the id is decided by the token alone.
 * - `peer: { principals }` — the mTLS workload identity (Envoy's `source.principal`, else the URI SAN
 *   of `source.certificate`) is one of these: exact, or a prefix ending in `/*`. A rule with only
 *   `peer` needs no user token; with user requirements too, it needs both.
 * - `when: "<CEL>"` — a condition over the request, path parameters, claims, provider, peer and actor
 *   chain (condition.ts), evaluated after the other keys of its set hold.
 * - `anyOf: [ {requirements}, … ]` — at least one alternative holds, in addition to the requirements
 *   beside it. Alternatives take the same keys except `anonymous` and `anyOf`.
 * - Claim paths are dot-separated (`realm_access.roles`); a top-level claim whose name contains dots
 *   (`https://example.com/roles`) is matched first as an exact key.
 *
 * Outcomes: allowed → `ok`. A user requirement without a verified token → 401 `unauthenticated`
 * (`authentication_required`). Anything else → 403 `permission_denied` with a reason
 * (`provider_not_allowed`, `missing_scope`, `missing_role`, `claim_mismatch`, `context_role_mismatch`,
 * `peer_not_allowed` — also when no workload identity was presented, since a token cannot fix that —
 * `condition_not_met`, or `no_alternative_satisfied` when `anyOf` alternatives failed for different
 * reasons). Checks run in this order and the first failure is reported: peer, token present,
 * providers, scopes, roles, claims, contextRole, actor, when, then `anyOf`. Reasons never echo claim values.
 *
 * `dryRun: true` on a rule (or the global dry-run switch) computes the decision and reports a would-deny
 * in `decision.dryRun`, but allows the request (reason `dry_run`). `rollout: { enforcePercent }` does
 * the same for the share of subjects outside the percentage (see rollout.ts).
 * `id`: unique, 1–64 of `A-Z a-z 0-9 . _ : -`, starting with a letter or digit; it appears in
 * decisions, logs and metrics. Unknown keys anywhere are errors.
 */
import { z } from 'zod';
import { compileRule } from './rule.js';
import { PolicyError } from './errors.js';
import { ruleInternalTokenSchema } from './internal-token.js';
import { rolloutSchema } from './rollout.js';
import { MAX_CONDITION_LENGTH } from './condition.js';

/**
 * A strict object whose errors say which keys are allowed, and what to write when it is missing or is
 * not a mapping.
 */
function strict<Shape extends z.core.$ZodLooseShape>(shape: Shape, what: string, whenMissing?: string) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => `"${k}"`).join(', ');
        return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys} in ${what}; allowed keys: ${allowed}`;
      }
      if (issue.code === 'invalid_type') {
        return issue.input === undefined && whenMissing ? whenMissing : `${what} must be a mapping with keys: ${allowed}`;
      }
      return undefined;
    },
  });
}

const text = (what: string) => z.string({ error: `${what} must be a string` }).min(1, { error: `${what} must not be empty` });

const textList = (what: string, example: string) =>
  z
    .array(text(`each entry of ${what}`), { error: `${what} must be a list, e.g. ${example}` })
    .min(1, { error: `${what} must list at least one value, e.g. ${example}; remove the key to drop the condition` });

const scalar = z.union([z.string(), z.number(), z.boolean()], {
  error: 'must be a string, number or boolean',
});

const trueOnly = (what: string) => z.literal(true, { error: `${what} can only be true; remove the key instead of setting it to false` });

const headerConditionSchema = strict(
  {
    name: text('headers[].name'),
    equals: z.string({ error: 'equals must be a string' }).optional(),
    oneOf: textList('oneOf', '[a, b]').optional(),
    present: z.boolean({ error: 'present must be true or false' }).optional(),
  },
  'a header condition',
);

const matchSchema = strict(
  {
    hosts: textList('hosts', '[api.example.com]').optional(),
    methods: textList('methods', '[GET, POST]').optional(),
    paths: textList('paths', '["/courses/{courseId}/grades"]').optional(),
    headers: z
      .array(headerConditionSchema, { error: 'headers must be a list of { name, equals | oneOf | present }' })
      .min(1, { error: 'headers must list at least one condition; remove the key to drop it' })
      .optional(),
    direction: z.enum(['inbound', 'egress'], { error: 'direction must be inbound or egress' }).optional(),
  },
  'match',
  'match is missing: say which requests the rule covers, e.g. match: { paths: ["/courses/**"] }',
);

const setOf = (what: string, example: string) => ({
  allOf: textList(`${what}.allOf`, example).optional(),
  anyOf: textList(`${what}.anyOf`, example).optional(),
});

const claimConditionSchema = strict(
  {
    path: text('claims[].path'),
    equals: scalar.optional(),
    oneOf: z.array(scalar, { error: 'oneOf must be a list' }).min(1, { error: 'oneOf must list at least one value' }).optional(),
    contains: scalar.optional(),
  },
  'a claim condition',
);

/** Each entry of an actor chain is one workload that passed the call on; 16 is far beyond any real chain. */
const DEPTH_RANGE = 'actor.maxChainDepth must be a whole number from 1 to 16';

const requirementShape = {
  authenticated: trueOnly('authenticated').optional(),
  providers: textList('providers', '[idp]').optional(),
  scopes: strict(setOf('scopes', '[courses:read]'), 'scopes').optional(),
  roles: strict({ claim: text('roles.claim').optional(), ...setOf('roles', '[admin]') }, 'roles').optional(),
  claims: z
    .array(claimConditionSchema, { error: 'claims must be a list of { path, equals | oneOf | contains }' })
    .min(1, { error: 'claims must list at least one condition; remove the key to drop it' })
    .optional(),
  contextRole: strict(
    {
      claim: text('contextRole.claim').optional(),
      context: text('contextRole.context'),
      id: text('contextRole.id'),
      anyOf: textList('contextRole.anyOf', '[teacher, ta]'),
      fallback: text('contextRole.fallback').optional(),
    },
    'contextRole',
  ).optional(),
  peer: strict({ principals: textList('peer.principals', '["spiffe://cluster.local/ns/edge/sa/gateway"]') }, 'peer').optional(),
  actor: strict(
    {
      principals: textList('actor.principals', '["spiffe://cluster.local/ns/edge/sa/gateway"]'),
      maxChainDepth: z
        .number({ error: 'actor.maxChainDepth must be a number' })
        .int({ error: DEPTH_RANGE })
        .min(1, { error: DEPTH_RANGE })
        .max(16, { error: DEPTH_RANGE })
        .optional(),
    },
    'actor',
  ).optional(),
  when: z
    .string({ error: 'when must be a CEL expression in quotes, e.g. when: "claims.sub == params.userId"' })
    .min(1, { error: 'when must not be empty; remove the key to drop it' })
    .max(MAX_CONDITION_LENGTH, { error: `when must be at most ${MAX_CONDITION_LENGTH} characters; split the rule` })
    .optional(),
};

const alternativeSchema = strict(requirementShape, 'an anyOf alternative');

const requireSchema = strict(
  {
    anonymous: trueOnly('anonymous').optional(),
    ...requirementShape,
    anyOf: z
      .array(alternativeSchema, { error: 'anyOf must be a list of requirement sets' })
      .min(2, {
        error:
          'anyOf needs at least two alternatives: each list item is one alternative whose keys must all hold; with one, put its requirements beside the others',
      })
      .optional(),
  },
  'require',
  'require is missing: every rule states who may pass; write require: { anonymous: true } to open a route',
);

const ruleSchema = strict(
  {
    id: z
      .string({
        error: (issue) =>
          issue.input === undefined
            ? 'id is missing: give each rule a unique id, e.g. id: course-grades'
            : 'id must be a string, e.g. id: course-grades',
      })
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, {
        error: 'id must be 1-64 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit',
      }),
    match: matchSchema,
    require: requireSchema,
    dryRun: z.boolean({ error: 'dryRun must be true or false' }).optional(),
    /** Mint an internal token for the upstream when this rule allows (see internalTokens). */
    internalToken: ruleInternalTokenSchema.optional(),
    rollout: rolloutSchema.optional(),
  },
  'a rule',
);

export type RuleConfig = z.infer<typeof ruleSchema>;
export type MatchConfig = RuleConfig['match'];
export type RequireConfig = RuleConfig['require'];
export type RequirementSetConfig = z.infer<typeof alternativeSchema>;
export type HeaderConditionConfig = z.infer<typeof headerConditionSchema>;
export type ClaimConditionConfig = z.infer<typeof claimConditionSchema>;

/**
 * The `rules:` list. Besides shape, each rule is compiled here (templates, claim paths, principals,
 * parameter references), so a config that parses is a config that compiles, and every error carries
 * its field path (`[1, 'match', 'paths', 0]`) and a fix.
 */
export const rulesSchema: z.ZodType<RuleConfig[]> = z
  .array(ruleSchema, { error: 'rules must be a list of rules, each with id, match and require' })
  .superRefine((rules, ctx) => {
    const seen = new Map<string, number>();
    for (const [index, rule] of rules.entries()) {
      const first = seen.get(rule.id);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'id'],
          message: `duplicate id "${rule.id}" (also rules[${first}]); rule ids must be unique`,
        });
      } else {
        seen.set(rule.id, index);
      }
      try {
        compileRule(rule);
      } catch (error) {
        if (!(error instanceof PolicyError)) throw error;
        ctx.addIssue({ code: 'custom', path: [index, ...error.field], message: error.detail });
      }
    }
  });

/** What happens when no rule matches. Deny unless the config says otherwise. */
export const defaultDecisionSchema = z.enum(['deny', 'allow'], { error: 'defaultDecision must be "deny" or "allow"' }).default('deny');
