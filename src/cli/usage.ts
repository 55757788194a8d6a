/**
 * Every command's usage, with every flag it accepts (test/integration/cli-help.test.ts holds each
 * command's parseArgs options to its text here and to the README's command table). Kept apart from
 * the commands so `--help` loads none of them.
 */

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9002';

export const USAGE = {
  serve: `usage: tollgate serve [--config FILE]
  Runs the ext_authz server. Without --config, the embedded development config (public keys: never
  for production). SIGHUP reloads the config; SIGTERM drains and exits.
  --config FILE     the config file (YAML)`,

  check: `usage: tollgate check --config FILE --path PATH [--method GET] [--host HOST] [--header "name: value"]...
                      [--token TOKEN | --claims JSON] [--provider NAME] [--principal SPIFFE_ID]
  Explains offline how the config decides one request. Exit 0 allow, 1 deny, 2 bad input.
  --config FILE         the config file
  --path PATH           the request path, with its query if any
  --method METHOD       default GET
  --host HOST           the :authority
  --header "n: v"       a request header; repeat for more
  --token TOKEN         a JWT, opaque token or API key, verified like a request's (introspected, looked up)
  --claims JSON         claims taken as already verified (instead of --token)
  --provider NAME       the provider the --claims stand for (needed when there are several), or
                        whose token location a --token is sent in
  --principal ID        the calling workload's mTLS identity (for peer rules)`,

  test: `usage: tollgate test [--config FILE] [--min-coverage PERCENT] [--junit FILE] CASES.yaml...
  Runs policy test cases offline through the server's pipeline and reports rule coverage. Exit 0
  every case passed, 1 a case failed or coverage is below --min-coverage, 2 bad input.
  --config FILE             the config to test against (default: the config: each case file names)
  --min-coverage PERCENT    fail when fewer rules than this share are reached by a case (default 0)
  --junit FILE              also write the results as JUnit XML`,

  revoke: `usage:
  tollgate revoke (--jti ID | --sid ID | --sub SUBJECT) [--reason TEXT] [--sub SUBJECT]
                  [--not-before TIME] [--expires-at TIME]     revoke a token, a session, or a subject's tokens
  tollgate revoke --refresh --sub SUBJECT [--at TIME] [--reason TEXT]
                                                              tokens issued before TIME (default now) must refresh
  tollgate revoke --remove (--jti ID | --sid ID | --sub SUBJECT)   undo a revocation
  tollgate revoke --list                                      print live revocations and refresh markers
common options:
  --admin-url URL             default ${DEFAULT_ADMIN_URL}
  --admin-token-file FILE     file holding the admin bearer secret (or --admin-token-env NAME)
TIME is RFC 3339 with an offset, e.g. 2025-01-31T12:00:00Z. With --jti or --sid, --sub only records
whose token or session it is. --not-before (default now) applies to a subject: its tokens issued
before it are revoked.`,

  keys: `usage: tollgate keys generate [--alg ES256] --out DIR [--force]
       tollgate keys rotate --dir DIR [--alg ES256] [--publish-ahead-seconds 300] [--ttl-seconds 900]
  generate: writes DIR/private.jwk.json (mode 0600, for token mint) and DIR/jwks.json (the public key
  set a provider's jwks.file points at), for local testing.
  --alg ALG     generate: RS256, PS256, ES256 (default), ES384 or EdDSA; rotate: ES256, EdDSA or RS256
  --out DIR     the directory to write into (created if missing)
  --force       overwrite existing files (the old private key is lost)
  rotate: adds a new internalTokens signing key to DIR and prunes keys no live token can need.
  --dir DIR                     the internalTokens.keysDir directory
  --publish-ahead-seconds N     as internalTokens.publishAheadSeconds (default 300)
  --ttl-seconds N               the longest internal token lifetime (default 900)
       tollgate keys api-key --id ID --sub SUBJECT [--claim name=value]...
  api-key: prints a new random API key once, and the entry (its SHA-256) for a provider's apiKeys.file.
  --id ID       the entry's id: what logs, metrics and decision logs show, and its jti for revocation
  --sub SUBJECT the subject requests with the key act as
  --claim k=v   a claim of the entry; a value that parses as JSON is JSON (roles=["a"]). Repeatable.`,

  token: `usage: tollgate token mint --key PRIVATE_JWK (--sub SUBJECT | --no-sub) [--claim name=value]...
                           [--aud AUD]... [--iss ISS] [--ttl 5m | --exp TIME] [--nbf TIME] [--iat TIME]
                           [--kid KID] [--typ TYP]
  Signs a token for local testing and prints it.
  --key FILE        a PRIVATE JWK (private.jwk.json from keys generate), not a public JWKS
  --sub SUBJECT     the sub claim; --no-sub mints a token without one
  --claim k=v       an extra claim; a value that parses as JSON is JSON (roles=["a"]). Repeatable.
                    The registered claims iss, sub, aud, exp, nbf, iat and jti have their own options.
  --aud AUD         default dev-api; repeat for several audiences
  --iss ISS         default https://dev.tollgate.invalid (the development config's issuer)
  --ttl DURATION    exp = iat + DURATION (90s, 5m, 2h, 1d); default 5m
  --exp TIME        instead of --ttl
  --nbf TIME        not before
  --iat TIME        issued at; default now
  --kid KID         header kid; default the key's own
  --typ TYP         header typ
  TIME is relative to now (+10m, -1h, 30s; negative for the past: --exp -1m mints an expired token),
  epoch seconds (1767225600) or RFC 3339 (2026-01-01T00:00:00Z).`,
} as const;

export type CommandName = keyof typeof USAGE;

/** `tollgate --help`: every command with every flag. */
export function topLevelUsage(version: string): string {
  return [
    `tollgate ${version}: external authorization for Envoy`,
    'usage: tollgate <command> [options]      tollgate <command> --help      tollgate --version',
    '',
    Object.values(USAGE)
      .map((text) => text.replace(/^usage:\s*/, ''))
      .join('\n\n'),
  ].join('\n');
}
