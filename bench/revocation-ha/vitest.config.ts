import { defineConfig } from 'vitest/config';

// `npm run bench -- --revocation-ha` (or `npm run bench:revocation-ha`): vitest is only the runner here,
// so the bench starts Redis topologies with the same launchers as the tests.
export default defineConfig({
  test: {
    include: ['bench/revocation-ha/propagation.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
