// Bench configs, written as YAML beside the run's keys. Each scenario changes one thing against the
// base config (one provider, one catch-all rule), so their figures compare.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { AUDIENCE, ISSUER } from '../tokens.mjs';

export const CONTEXT_RULES = 50;
/** The large policy: one rule per route of a big API, the bench request matching the last. */
export const LARGE_RULES = 10_000;

function base({ grpcPort, httpPort, authzPort, jwksPath }) {
  return {
    listen: { grpc: `127.0.0.1:${grpcPort}`, http: `127.0.0.1:${httpPort}`, authz: `127.0.0.1:${authzPort}` },
    providers: [
      {
        name: 'bench',
        issuer: ISSUER,
        audiences: [AUDIENCE],
        algorithms: ['ES256', 'RS256', 'EdDSA'],
        jwks: { file: jwksPath },
        clockSkewSeconds: 30,
        fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
        claimToHeaders: [
          { header: 'x-user-id', claim: 'sub' },
          { header: 'x-user-roles', claim: 'roles' },
        ],
      },
    ],
    identityHeaders: { strip: ['x-user-', 'x-auth-'], forwardToken: false },
    rules: [
      { id: 'health', match: { paths: ['/healthz'] }, require: { anonymous: true } },
      { id: 'authenticated', match: { paths: ['/**'] }, require: { authenticated: true } },
    ],
    defaultDecision: 'deny',
    // info is the production default; denials log one line each (to a file here), allows log nothing.
    log: { level: 'info' },
    shutdown: { notServingSeconds: 0, drainSeconds: 1 },
  };
}

/**
 * `count` rules of one shape, each a context-role check on its own service's routes; the bench request
 * (`/courses/{id}/grades`) matches the last. With `when`, every rule also carries a three-clause
 * condition that holds for the bench token, so the two policies differ only in the condition. With
 * `distinct`, each service's rule also accepts a role of its own, so no two rules share a requirement
 * (tollgate compiles a requirement once for all the rules that give the same one).
 */
function serviceRules(count, { when, distinct } = {}) {
  const require = (extra, ownRole) => ({
    contextRole: { claim: 'roles', context: 'course', id: '{courseId}', anyOf: ['teacher', 'ta', ...(ownRole ? [ownRole] : [])] },
    ...extra,
  });
  const condition = when ? { when: "request.method == 'GET' && claims.sub != '' && params.courseId != ''" } : {};
  const rules = [];
  for (let i = 1; i < count; i++) {
    rules.push({
      id: `svc-${i}-grades`,
      match: { methods: ['GET'], paths: [`/svc-${i}/courses/{courseId}/grades`, `/svc-${i}/courses/{courseId}/grades/{gradeId}`] },
      require: require(condition, distinct && `svc-${i}-grader`),
    });
  }
  rules.push({ id: 'course-grades', match: { methods: ['GET'], paths: ['/courses/{courseId}/grades'] }, require: require(condition) });
  return rules;
}

/** One course rule whose contextRole falls back to a context source at `url` (bench/context-cache.mjs). */
function contextSourceRules(url) {
  return {
    contextSources: [{ name: 'courses', http: { url, timeoutMs: 1000 } }],
    rules: [
      {
        id: 'course-grades',
        match: { methods: ['GET'], paths: ['/courses/{courseId}/grades'] },
        require: { contextRole: { claim: 'roles', context: 'course', id: '{courseId}', anyOf: ['teacher', 'ta'], fallback: 'courses' } },
      },
    ],
  };
}

/**
 * Beside the JWT provider (bench/opaque.mjs): opaque tokens in the same Authorization header, answered
 * by the introspection endpoint at `introspectionUrl`, and API keys in `x-api-key` from `apiKeysFile`.
 */
function opaqueProviders({ introspectionUrl, secretFile, apiKeysFile }) {
  const claimToHeaders = [
    { header: 'x-user-id', claim: 'sub' },
    { header: 'x-user-roles', claim: 'roles' },
  ];
  return [
    {
      name: 'bench-introspection',
      audiences: [AUDIENCE],
      introspection: { url: introspectionUrl, clientId: 'tollgate-bench', clientSecret: { file: secretFile }, timeoutMs: 5000 },
      fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
      claimToHeaders,
    },
    { name: 'bench-api-keys', apiKeys: { file: apiKeysFile }, fromHeaders: [{ name: 'x-api-key' }], claimToHeaders },
  ];
}

/**
 * options: { grpcPort, httpPort, authzPort, jwksPath, tokenCache?: number,
 *            policy?: 'context50' | 'rules10' | 'rules10k' | 'rules10kDistinct' | 'when10',
 *            contextSourceUrl?: string, opaque?: { introspectionUrl, secretFile, apiKeysFile },
 *            revocation?: { path }, admin?: { tokenFile }, tls?: {...},
 *            sections?: {...} }
 *            (`tls`: listen.tls of the gRPC listener; `sections`: top-level config sections set as given,
 *            e.g. decisionLog, tracing, log).
 *            Returns the path of the written file.
 */
export function writeConfig(dir, name, options) {
  const config = base(options);
  if (options.tokenCache !== undefined) config.tokenCache = { maxEntries: options.tokenCache };
  if (options.policy === 'context50') config.rules = serviceRules(CONTEXT_RULES);
  if (options.policy === 'rules10') config.rules = serviceRules(10);
  if (options.policy === 'rules10k') config.rules = serviceRules(LARGE_RULES);
  if (options.policy === 'rules10kDistinct') config.rules = serviceRules(LARGE_RULES, { distinct: true });
  if (options.policy === 'when10') config.rules = serviceRules(10, { when: true });
  if (options.contextSourceUrl) Object.assign(config, contextSourceRules(options.contextSourceUrl));
  if (options.opaque) config.providers.push(...opaqueProviders(options.opaque));
  if (options.revocation) config.revocation = { store: 'file', path: options.revocation.path };
  if (options.admin) config.admin = { tokenFile: options.admin.tokenFile };
  if (options.tls) config.listen.tls = options.tls;
  Object.assign(config, options.sections);
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, `# generated by bench/config/generate.mjs for scenario ${name}\n${stringify(config)}`);
  return file;
}

/**
 * A file-store revocation log (the format src/revocation/file-backend.ts loads at start) holding
 * `count` live entries: 80% jti, 10% sid, 10% sub cut-offs, each expiring in a week.
 */
export function writeRevocationLog(file, count) {
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = now + 7 * 24 * 3600;
  const lines = ['{"tollgate":"revocation-log","version":1}'];
  for (let i = 0; i < count; i++) {
    const kind = i % 10 === 0 ? 'sid' : i % 10 === 1 ? 'sub' : 'jti';
    const entry = { type: kind, value: `revoked-${kind}-${i}`, expiresAt, createdAt: now, reason: 'bench' };
    if (kind === 'sub') entry.notBefore = now;
    lines.push(JSON.stringify({ op: 'revoke', entry }));
  }
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}

/** The jti of an entry the log above holds, for a token that must be denied. */
export const REVOKED_JTI = 'revoked-jti-2';
