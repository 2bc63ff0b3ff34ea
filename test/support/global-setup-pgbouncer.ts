import type { TestProject } from 'vitest/node';
import { startPgBouncer } from '../../src/testing/start-pgbouncer.js';
import { setupStack } from './global-setup.js';

/** The machine's PostgreSQL 15 (as .ci/run provides it); PgBouncer forwards to it. */
const SERVER = process.env.PLATFORM_TEST_PGBOUNCER_SERVER ?? '127.0.0.1:5432';

/**
 * The `pgbouncer` project: the PostgreSQL suites and the session flows again,
 * with the application role going through Debian's PgBouncer 1.18 in
 * transaction pooling mode (`PG_POOLER=transaction`); the owner (migrations,
 * advisory locks, DDL) stays direct. When PgBouncer cannot start the project
 * fails with one line saying why: it is never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let bouncer: Awaited<ReturnType<typeof startPgBouncer>>;
  try {
    bouncer = await startPgBouncer({ server: SERVER });
  } catch (error) {
    throw new Error(`pgbouncer: PgBouncer could not start: ${(error as Error).message}`);
  }
  try {
    const teardown = await setupStack(
      project,
      {
        stores: ['postgres', 'redis'],
        containers: false,
        env: { DATABASE_URL: `postgres://postgres@${SERVER}/postgres` },
        postgresPooler: bouncer.address,
      },
      false,
    );
    return async () => {
      await teardown();
      await bouncer.stop();
    };
  } catch (error) {
    await bouncer.stop();
    throw error;
  }
}
