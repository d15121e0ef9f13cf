import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    // End-to-end tests start servers and run the CLI many times; a loaded CI machine is slow.
    testTimeout: 180_000,
    hookTimeout: 240_000,
    teardownTimeout: 30_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
