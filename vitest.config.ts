import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Tests spawn real processes; two files at a time fit this 2-core machine.
    maxWorkers: 2,
  },
});
