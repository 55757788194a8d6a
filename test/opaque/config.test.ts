import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { offlineRuntime } from '../../src/cli/offline.js';
import { ConfigError } from '../../src/util/config-error.js';

const introspection = { url: 'https://as.example/introspect', clientId: 'tollgate', clientSecret: { env: 'INTROSPECT_SECRET' } };
const hydra = { name: 'hydra', audiences: ['api'], introspection };
const partners = { name: 'partners', apiKeys: { file: 'api-keys.yaml' }, fromHeaders: [{ name: 'x-api-key' }] };

function problems(config: unknown): string[] {
  try {
    parseConfig(stringify(config), '/etc/tollgate');
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return [];
}

describe('opaque-token providers in the config', () => {
  it('fills the documented defaults and resolves files against the config directory', () => {
    const config = parseConfig(
      stringify({ providers: [{ ...hydra, introspection: { ...introspection, clientSecret: { file: 'secret' } } }, partners] }),
      '/etc/tollgate',
    );
    expect(config.providers[0]).toMatchObject({
      requiredClaims: ['exp'],
      introspection: {
        authMethod: 'client_secret_basic',
        timeoutMs: 500,
        cacheSeconds: 60,
        negativeCacheSeconds: 5,
        maxEntries: 100000,
        allowInsecureHttp: false,
        clientSecret: { file: '/etc/tollgate/secret' },
      },
    });
    expect(config.providers[1]).toMatchObject({ requiredClaims: [], apiKeys: { file: '/etc/tollgate/api-keys.yaml' } });
  });

  it.each([
    [{ ...hydra, algorithms: ['ES256'] }, 'config: providers[0].algorithms: not used with `introspection`'],
    [{ ...hydra, jwks: { uri: 'https://as.example/jwks' } }, 'config: providers[0].jwks: not used with `introspection`'],
    [{ ...hydra, hmacSecret: { env: 'X' } }, 'config: providers[0].hmacSecret: not used with `introspection`'],
    [{ ...hydra, audiences: undefined }, 'config: providers[0].audiences: required: a list, e.g. [api]'],
    [{ ...hydra, requiredClaims: ['sub'] }, 'config: providers[0].requiredClaims: must include "exp"'],
    [{ ...hydra, apiKeys: { file: 'k.yaml' } }, 'config: providers[0].apiKeys: a provider has either `introspection` or `apiKeys`'],
    [
      { ...hydra, introspection: { ...introspection, url: 'http://as.example/introspect' } },
      'config: providers[0].introspection.url: must be an https URL',
    ],
    [
      { ...hydra, introspection: { ...introspection, authMethod: 'private_key_jwt' } },
      'config: providers[0].introspection.authMethod: must be one of',
    ],
    [{ ...partners, issuer: 'https://idp' }, 'config: providers[0].issuer: not used with `apiKeys`'],
    [{ ...partners, audiences: ['api'] }, 'config: providers[0].audiences: not used with `apiKeys`'],
    [{ ...partners, algorithms: ['ES256'] }, 'config: providers[0].algorithms: not used with `apiKeys`'],
    [{ ...partners, maxTokenAgeSeconds: 60 }, 'config: providers[0].maxTokenAgeSeconds: not used with `apiKeys`'],
    [{ name: 'idp', audiences: ['api'] }, 'config: providers[0].issuer: required'],
    [{ name: 'idp', issuer: 'https://idp', audiences: ['api'] }, 'config: providers[0].algorithms: required'],
  ])('refuses %j with a message naming the field', (provider, message) => {
    const lines = problems({ providers: [provider] });
    expect(
      lines.some((line) => line.startsWith(message)),
      `${lines.join('\n')}\nexpected: ${message}`,
    ).toBe(true);
  });

  it('allows plain http to loopback or with allowInsecureHttp, and an introspection provider that shares an issuer with a JWT one', () => {
    const jwt = {
      name: 'idp',
      issuer: 'https://as.example',
      audiences: ['api'],
      algorithms: ['ES256'],
      jwks: { uri: 'https://as.example/jwks' },
    };
    expect(
      problems({
        providers: [
          jwt,
          { ...hydra, issuer: 'https://as.example', introspection: { ...introspection, url: 'http://127.0.0.1:4445/introspect' } },
          {
            ...hydra,
            name: 'h2',
            fromHeaders: [{ name: 'x-token' }],
            introspection: { ...introspection, url: 'http://as/i', allowInsecureHttp: true },
          },
        ],
      }),
    ).toEqual([]);
  });

  it('refuses two opaque-token providers reading one place: which one answers would be chance', () => {
    process.env.INTROSPECT_SECRET = 'secret';
    const config = parseConfig(
      stringify({ providers: [hydra, { ...partners, fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }] }] }),
      '/etc',
    );
    expect(() => offlineRuntime(config)).toThrow(/"hydra" and "partners" both read opaque tokens from header:authorization bearer/);
  });

  it('names the DPoP scheme as the place two introspection providers both read, when both set dpop', () => {
    process.env.INTROSPECT_SECRET = 'secret';
    const config = parseConfig(
      stringify({
        providers: [
          { ...hydra, fromHeaders: [{ name: 'x-token' }], dpop: {} },
          { ...hydra, name: 'h2', fromHeaders: [{ name: 'x-other-token' }], dpop: {} },
        ],
      }),
      '/etc',
    );
    expect(() => offlineRuntime(config)).toThrow(/"hydra" and "h2" both read opaque tokens from header:authorization dpop:/);
  });
});
