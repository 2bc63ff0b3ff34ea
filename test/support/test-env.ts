import { inject } from 'vitest';
import type { Config } from '../../src/config.js';
import { createTestEnvironment } from '../../src/testing/create-test-environment.js';

export { testKeyRing } from '../../src/testing/create-test-environment.js';

export interface TestEnv {
  /** Environment variables pointing at this file's isolated resources. */
  readonly env: Record<string, string>;
  readonly config: Config;
  readonly id: string;
  readonly backends: ReturnType<typeof inject<'stack'>>['backends'];
  /** Owner URL of this file's own database. */
  readonly databaseUrl: string | undefined;
  /** Drops this file's database, MongoDB database, Redis keys and Qdrant collections. */
  cleanup(): Promise<void>;
}

/**
 * Isolated resources for one test file: its own PostgreSQL database (cloned
 * from the migrated template), MongoDB database, Qdrant collection prefix and
 * Redis key prefix, on the stores the global setup started — the library's
 * own suite uses the helper applications use (platform-data/testing).
 */
export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const stack = inject('stack');
  const t = await createTestEnvironment(stack, { overrides });
  return { env: { ...t.env }, config: t.config, id: t.id, backends: stack.backends, databaseUrl: t.databaseUrl, cleanup: t.cleanup };
}
