import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The suite Stryker runs against each mutant (npm run test:mutation): everything that exercises the
 * mutated modules, without
 * - the tests that check build artefacts (dist/, the Docker image, manifests), which a mutant in src/
 *   cannot change: test/deploy, and the tests that spawn dist/cli.js (serve, chaos, cli-help, test-cli);
 * - the Redis topology tests (Cluster, Sentinel, durability across restarts): each starts several Redis
 *   processes for every mutant it covers, and what they test, the Redis backend, is outside the mutated
 *   modules; the mirror and the pipeline they pass through are covered by faster tests
 *   (docs/mutation-testing.md says how that was checked).
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [
        ...configDefaults.exclude,
        'test/deploy/**',
        'test/integration/serve.test.ts',
        'test/integration/chaos.test.ts',
        'test/integration/cli-help.test.ts',
        'test/integration/test-cli.test.ts',
        'test/revocation/redis-cluster.test.ts',
        'test/revocation/redis-sentinel.test.ts',
        'test/revocation/redis-durability.test.ts',
      ],
    },
  }),
);
