import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema, type Config } from './schema.js';
import { ConfigError, configErrorFromZod } from '../util/config-error.js';
import { resolveRedisPaths } from '../revocation/index.js';
import { resolveTlsPaths } from '../tls/schema.js';
import { readYaml } from '../util/yaml.js';

/** The config `npm start` runs: local-only example keys and policy, never for production. */
export const EMBEDDED_CONFIG_PATH = fileURLToPath(new URL('../../examples/default/tollgate.yaml', import.meta.url));

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file, for reloads and for messages. */
  path: string;
  /** `configHash` of the text this config was parsed from: a reload is due when the file's differs. */
  hash: string;
}

/** The content hash that tells a changed config file from an unchanged one (an editor's touch, a rewrite). */
export function configHash(text: Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Reads, parses and validates a config file; relative paths inside it are relative to the file. */
export function loadConfigFile(path: string): LoadedConfig {
  const absolute = resolve(path);
  let text: Buffer;
  try {
    text = readFileSync(absolute);
  } catch (err) {
    throw new ConfigError([`cannot read ${absolute}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return { config: parseConfig(text.toString('utf8'), dirname(absolute)), path: absolute, hash: configHash(text) };
}

/** Parses YAML text into a validated config. `baseDir` anchors relative file paths. */
export function parseConfig(text: string, baseDir: string): Config {
  const yaml = readYaml(text);
  if (!yaml.ok) throw new ConfigError([`YAML: ${yaml.message}`]);
  // Refused as an empty file is (js-yaml finds no document there): a file caught empty while it is
  // rewritten must never reload as the defaults. `{}` says "the defaults" explicitly.
  if (yaml.value === null) throw new ConfigError(['YAML: the document is null; write `{}` for the defaults']);
  const result = configSchema.safeParse(yaml.value, { reportInput: true });
  if (!result.success) throw configErrorFromZod(result.error, configSchema);
  return resolvePaths(result.data, baseDir);
}

function resolvePaths(config: Config, baseDir: string): Config {
  const at = (p: string | undefined) => (p === undefined ? undefined : resolve(baseDir, p));
  const file = (p: string) => resolve(baseDir, p);
  return {
    ...config,
    listen: { ...config.listen, tls: resolveTlsPaths(config.listen.tls, file), httpTls: resolveTlsPaths(config.listen.httpTls, file) },
    providers: config.providers.map((p) => ({
      ...p,
      jwks: p.jwks && { ...p.jwks, file: at(p.jwks.file) },
      hmacSecret: p.hmacSecret && { ...p.hmacSecret, file: at(p.hmacSecret.file) },
      introspection: p.introspection && {
        ...p.introspection,
        clientSecret: { ...p.introspection.clientSecret, file: at(p.introspection.clientSecret.file) },
      },
      apiKeys: p.apiKeys && { file: file(p.apiKeys.file) },
    })),
    revocation: config.revocation && {
      ...config.revocation,
      path: at(config.revocation.path),
      redis: config.revocation.redis && resolveRedisPaths(config.revocation.redis, file),
    },
    admin: config.admin && { ...config.admin, tokenFile: at(config.admin.tokenFile) },
    internalTokens: config.internalTokens && { ...config.internalTokens, keysDir: file(config.internalTokens.keysDir) },
    decisionLog: config.decisionLog && { ...config.decisionLog, path: at(config.decisionLog.path) },
  };
}
