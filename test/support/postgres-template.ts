import { randomBytes } from 'node:crypto';
import { TEST_DATABASE_PREFIX } from '../../src/testing/start-test-stack.js';

export { databaseUrl, withAdmin } from '../../src/testing/postgres-admin.js';

/** Identifies this test file's process, for databases a test creates by hand (named `${TEST_DB_PREFIX}${RUN_ID}_…`). */
export const RUN_ID = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
export const TEST_DB_PREFIX = TEST_DATABASE_PREFIX;
