import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The suite Stryker runs against each mutant (npm run test:mutation): everything that exercises the
 * mutated modules, without the tests that check build artefacts (dist/, the Docker image, manifests),
 * which a mutant in src/ cannot change.
 */
export default mergeConfig(
  base,
  defineConfig({ test: { exclude: [...configDefaults.exclude, 'test/deploy/**', 'test/integration/serve.test.ts'] } }),
);
