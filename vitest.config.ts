import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Sized for a fully loaded 2-core machine (docs/testing.md): a bound, not a speed goal.
    testTimeout: 90_000,
    hookTimeout: 180_000,
    // Two cores: two workers keep the machine responsive; files are isolated by resources, not by process count.
    maxWorkers: 2,
    // scripts/test-summary.mjs reads the real counts from the JSON report (see .ci/run).
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
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
      {
        extends: true,
        test: {
          name: 'redis-cluster',
          // The Redis suites and the session flows again, on a real 3-master + 3-replica Redis Cluster.
          include: ['test/integration/redis/**/*.test.ts', 'test/integration/flows/sign-in-sessions.test.ts'],
          // Runs its own single redis-server to flush and stop it; the cluster's failover has its own test.
          exclude: ['test/integration/redis/session-cache-flush.test.ts'],
          globalSetup: ['test/support/global-setup-redis-cluster.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'pgbouncer',
          // The PostgreSQL suites and the session flows again, the application role through PgBouncer (transaction pooling).
          // The files that exercise what a transaction pooler can break: tenant settings on a reused server
          // backend, the hot path's prepared statements, row locks in refresh rotation, batched audit writes.
          include: [
            'test/integration/postgres/tenancy.test.ts',
            'test/integration/postgres/repositories/{session,refresh-token,audit-writer,organization-user-membership}*.test.ts',
            'test/integration/flows/sign-in-sessions.test.ts',
          ],
          globalSetup: ['test/support/global-setup-pgbouncer.ts'],
        },
      },
    ],
  },
});
