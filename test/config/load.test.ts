import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/util/config-error.js';
import { EMBEDDED_CONFIG_PATH, loadConfigFile, parseConfig } from '../../src/config/load.js';

const provider = {
  name: 'idp',
  issuer: 'https://idp.example.com',
  audiences: ['api'],
  algorithms: ['ES256'],
  jwks: { uri: 'https://idp.example.com/jwks' },
};

/** The problems a config produces, one line each, as `tollgate serve` prints them. */
function problems(config: unknown): string[] {
  try {
    parseConfig(typeof config === 'string' ? config : stringify(config), '/etc/tollgate');
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return [];
}

describe('config loading', () => {
  it('accepts the embedded development config and applies safe defaults', () => {
    const { config } = loadConfigFile(EMBEDDED_CONFIG_PATH);
    expect(config.defaultDecision).toBe('deny');
    expect(config.providers[0]).toMatchObject({ clockSkewSeconds: 30, requiredClaims: ['exp'] });
    expect(config.limits.maxTokenBytes).toBe(8192);
  });

  it('fills defaults for a minimal provider', () => {
    const config = parseConfig(stringify({ providers: [provider] }), '/etc/tollgate');
    expect(config.listen).toEqual({ grpc: '0.0.0.0:9001', http: '0.0.0.0:9002', authz: '0.0.0.0:9003' });
    expect(config.authz).toEqual({ trustForwardedClientCert: false });
    expect(config.providers[0]).toMatchObject({
      fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
      claimToHeaders: [{ header: 'x-user-id', claim: 'sub' }],
    });
    expect(config.identityHeaders).toEqual({ strip: ['x-user-', 'x-auth-'], forwardToken: false });
    expect(config.rules).toEqual([]);
  });

  it('resolves relative paths against the config file', () => {
    const config = parseConfig(
      stringify({ providers: [{ ...provider, jwks: { file: 'keys/jwks.json' } }], revocation: { store: 'file', path: 'data/rev.log' } }),
      '/etc/tollgate',
    );
    expect(config.providers[0]?.jwks?.file).toBe('/etc/tollgate/keys/jwks.json');
    expect(config.revocation?.path).toBe('/etc/tollgate/data/rev.log');
  });

  it('derives the revocation TTL from the longest token lifetime when every provider bounds it', () => {
    const bounded = parseConfig(
      stringify({ providers: [{ ...provider, maxTokenAgeSeconds: 3600 }], revocation: { store: 'memory' } }),
      '/',
    );
    expect(bounded.revocation?.defaultTtlSeconds).toBe(3630);
    const unbounded = parseConfig(stringify({ providers: [provider], revocation: { store: 'memory' } }), '/');
    expect(unbounded.revocation?.defaultTtlSeconds).toBe(604800);
  });

  it.each([
    [{ providers: [{ ...provider, algorithms: ['none'] }] }, 'config: providers[0].algorithms[0]: alg "none" is never accepted: remove it'],
    [{ providers: [{ ...provider, algorithms: ['HS256'] }] }, 'config: providers[0].algorithms: HS* algorithms need `hmacSecret`'],
    [{ providers: [{ ...provider, algorithms: ['RS257'] }] }, 'config: providers[0].algorithms[0]: unknown algorithm "RS257"'],
    [{ providers: [{ ...provider, algorithms: [] }] }, 'config: providers[0].algorithms: list the signature algorithms'],
    [{ providers: [{ ...provider, jwks: undefined }] }, 'config: providers[0].jwks: required for asymmetric algorithms'],
    [{ providers: [{ ...provider, requiredClaims: ['sub'] }] }, 'config: providers[0].requiredClaims: must include "exp"'],
    [{ providers: [{ ...provider, audiences: [] }] }, 'config: providers[0].audiences: list at least one audience'],
    [{ providers: [{ ...provider, jwks: { uri: 'http://idp.example.com/jwks' } }] }, 'config: providers[0].jwks.uri: must be an https URL'],
    [
      { providers: [{ ...provider, claimToHeaders: [{ header: 'host', claim: 'sub' }] }] },
      'config: providers[0].claimToHeaders[0].header: host cannot be set or removed',
    ],
    // Envoy never removes host or a pseudo-header (headers_to_remove ignores them): listing one would
    // promise a removal that cannot happen, so it is refused rather than silently kept.
    [{ identityHeaders: { strip: ['Host'] } }, 'config: identityHeaders.strip[0]: host cannot be set or removed'],
    [{ identityHeaders: { strip: [':authority'] } }, 'config: identityHeaders.strip[0]: must be an HTTP header name'],
    [
      { providers: [{ ...provider, fromHeaders: [{ name: 'host' }] }] },
      'config: providers[0].fromHeaders[0].name: host cannot be set or removed',
    ],
    [{ viewAs: { header: 'host', allow: { teacher: ['student'] } } }, 'config: viewAs.header: host cannot be set or removed'],
    [
      { internalTokens: { issuer: 'https://tollgate', keysDir: '/keys', header: 'host' } },
      'config: internalTokens.header: host cannot be set or removed',
    ],
    [
      { providers: [{ ...provider, claimToHeaders: [{ header: 'x-user', claim: 'a..b' }] }] },
      'config: providers[0].claimToHeaders[0].claim: claim path "a..b" has an empty part',
    ],
    [{ providers: [provider, { ...provider, name: 'idp2' }] }, 'config: providers[1].issuer: another provider has the same issuer'],
    [{ providers: [provider, { ...provider, issuer: 'https://other' }] }, 'config: providers[1].name: duplicate provider name "idp"'],
    [{ providers: [{ ...provider, clockskew: 30 }] }, 'config: providers[0].clockskew: unknown field; did you mean "clockSkewSeconds"?'],
    [{ listen: { grpc: 'localhost' } }, 'config: listen.grpc: must be host:port'],
    [{ listen: { authz: 'of' } }, 'config: listen.authz: must be host:port, e.g. 127.0.0.1:9003, or off for no HTTP authorization port'],
    [{ admin: { tokenFile: 'admin-token', listen: '9004' } }, 'config: admin.listen: must be host:port, e.g. 0.0.0.0:9001'],
    [{ admin: { tokenFile: 'x' } }, 'config: admin: the admin API manages revocations: configure `revocation` too'],
    [{ revocation: { store: 'file' } }, 'config: revocation.path: required when store is file'],
    [
      { shutdown: { notServingSeconds: 20, drainSeconds: 10 } },
      'config: shutdown.notServingSeconds: notServingSeconds must not exceed drainSeconds',
    ],
    ['providers: []\nproviders: []\n', 'config: YAML: duplicated mapping key at line 2, column 1'],
    ['rules: &rules [ *rules ]\n', 'config: YAML: an alias refers to a node that contains it, which makes the document endless'],
    ['', 'config: YAML: expected a document, but the input is empty'],
    ['# nothing yet\n', 'config: YAML: expected a document, but the input is empty'],
    ['~\n', 'config: YAML: the document is null; write `{}` for the defaults'],
  ])('%j is refused with a message naming the field', (config, message) => {
    const lines = problems(config);
    expect(
      lines.some((line) => line.startsWith(message)),
      `${lines.join('\n')}\nexpected: ${message}`,
    ).toBe(true);
  });

  it.each([
    [{ defaultDecison: 'deny' }, ['config: defaultDecison: unknown field; did you mean "defaultDecision"?']],
    [{ providers: [{ ...provider, jwks: { fille: 'x.json' } }] }, ['config: providers[0].jwks.fille: unknown field; did you mean "file"?']],
    [
      { providers: [{ ...provider, audience: ['api'], audiences: undefined }] },
      ['config: providers[0].audience: unknown field; did you mean "audiences"?'],
    ],
    [{ providers: [{ ...provider, audiences: undefined }] }, ['config: providers[0].audiences: required: a list, e.g. [api]']],
    [{ providers: [{ ...provider, audiences: 'api' }] }, ['config: providers[0].audiences: must be a list, e.g. [api]; found a string']],
    [{ listen: { grpc: 9001 } }, ['config: listen.grpc: must be a string, e.g. 0.0.0.0:9001; found a number']],
    [{ log: { level: 'inf' } }, ['config: log.level: must be one of fatal, error, warn, info, debug, trace, silent; did you mean "info"?']],
    [{ limits: { maxTokenBytes: 10 } }, ['config: limits.maxTokenBytes: must be at least 256']],
    [{ dryRun: 'yes' }, ['config: dryRun: must be true or false; found a string']],
    [
      { rules: [{ id: 'a', match: { paths: ['/x'], methdos: ['GET'] }, require: { authenticated: true } }] },
      ['config: rules[0].match.methdos: unknown field; did you mean "methods"?'],
    ],
    [
      // the rule then matches nothing, which the compile step also reports for match: a second line for the same mistake
      { rules: [{ id: 'a', match: { path: ['/x'] }, require: { authenticated: true } }] },
      ['config: rules[0].match.path: unknown field; did you mean "paths"?'],
    ],
  ])("%j: one problem per mistake, in the config's words", (config, expected) => {
    const lines = problems(config);
    expect(lines).toEqual(expected);
    expect(lines.join('\n')).not.toMatch(/Invalid input|Invalid option|Unrecognized key|received undefined/);
  });

  it('names a missing file', () => {
    expect(() => loadConfigFile('/nonexistent/tollgate.yaml')).toThrow('config: cannot read /nonexistent/tollgate.yaml: ENOENT');
  });
});
