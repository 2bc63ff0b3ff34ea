import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Two cores: two workers keep the machine responsive; files are isolated by resources, not by process count.
    maxWorkers: 2,
    // CI reads the real counts from the JSON report (see .ci/run).
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/vitest.json' }]] : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres-18',
          include: ['test/integration/postgres/**/*.test.ts'],
          // db-command.test.ts drives the CLI against the main project's server; the rest run here too.
          exclude: ['test/integration/postgres/db-command.test.ts'],
          globalSetup: ['test/support/global-setup-embedded.ts'],
        },
      },
    ],
  },
});
