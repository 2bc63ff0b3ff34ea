import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { StoreName } from '../errors.js';
import { appLedgerName, Migrator } from '../postgres/migrator.js';
import { databaseUrl, withAdmin } from './postgres-admin.js';
import { startLocalStack, type LocalStackOptions, type StackBackend } from './start-local-stack.js';

/** Database names: `pd_template_<run>` (migrated once) and `pd_test_<run>_<id>` (one per test file). */
export const TEMPLATE_DATABASE_PREFIX = 'pd_template_';
export const TEST_DATABASE_PREFIX = 'pd_test_';

/**
 * What a test file needs to know about the run's stores: plain JSON, so a
 * vitest `globalSetup` can hand it to test files with `project.provide()`.
 */
export interface TestStackInfo {
  /** Identifies this run; every database, key prefix and collection of it carries it. */
  readonly runId: string;
  readonly urls: Readonly<Record<StoreName, string | undefined>>;
  readonly backends: Readonly<Record<StoreName, StackBackend>>;
  /** The migrated template database every test database is cloned from (undefined without PostgreSQL). */
  readonly postgresTemplate: string | undefined;
  /** `REDIS_CLUSTER_NODES` for every test environment, when the run's Redis is a cluster ({@link startRedisCluster}). */
  readonly redisClusterNodes?: string;
  /** `DATABASE_APP_URL`'s server, when the application role goes through a transaction-pooling PgBouncer (`host:port`). */
  readonly postgresPooler?: string;
}

export interface AppMigrations {
  /** The application's migrations folder (`platform-data db create <name> --dir <folder>`). */
  readonly directory: string;
  /** Its ledger table (default: `appLedgerName(directory)`, as the CLI's `--dir`). */
  readonly ledger?: string;
}

export interface TestStackOptions extends LocalStackOptions {
  /** The application's own migrations, applied to the template after the package's. */
  readonly migrations?: AppMigrations;
  /** A Redis Cluster's seed nodes (`host:port,…`): test environments get `REDIS_CLUSTER_NODES` instead of the stack's single Redis. */
  readonly redisClusterNodes?: string;
  /** A transaction-pooling PgBouncer in front of the stack's PostgreSQL (`host:port`): test environments send the application role through it (`PG_POOLER=transaction`). */
  readonly postgresPooler?: string;
}

export interface TestStack extends AsyncDisposable {
  readonly info: TestStackInfo;
  /** Drops the template and every test database of this run, then stops what the stack started. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Applies the package's migrations (and the application's, after them) to a
 * template database. When the server authenticates by password, the
 * application role `platform_app` gets the admin's password, so a test
 * environment's DATABASE_APP_URL can carry it; on trust-auth servers it keeps none.
 * @throws MigrationError when a migration fails; StoreUnavailableError when PostgreSQL cannot be reached
 */
export async function migrateTemplate(url: string, migrations?: AppMigrations): Promise<void> {
  await using library = new Migrator({ url });
  await library.up();
  if (migrations) {
    await using app = new Migrator({ url, directory: migrations.directory, ledger: migrations.ledger ?? appLedgerName(migrations.directory) });
    await app.up();
  }
  const password = decodeURIComponent(new URL(url).password);
  if (password) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`ALTER ROLE platform_app PASSWORD ${client.escapeLiteral(password)}`);
    } finally {
      await client.end();
    }
  }
}

/** Drops the template and test databases of one run (left over ones too, after a crash of that run's files). */
export async function dropRunDatabases(adminUrl: string, runId: string): Promise<void> {
  await withAdmin(adminUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`, [
      `${TEST_DATABASE_PREFIX}${runId}\\_%`,
      `${TEMPLATE_DATABASE_PREFIX}${runId}`,
    ]);
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  });
}

/**
 * Starts (or finds) the four stores once for a whole test run, as
 * {@link startLocalStack} does, and migrates a template database from which
 * {@link createTestEnvironment} clones one database per test file in
 * milliseconds. Meant for a vitest `globalSetup` (docs/testing-applications.md).
 *
 * @example
 * // vitest.global-setup.ts
 * export default async function setup(project: TestProject) {
 *   const stack = await startTestStack({ migrations: { directory: 'migrations' } });
 *   project.provide('platformStack', stack.info);
 *   return () => stack.stop();
 * }
 * @throws MigrationError when a migration fails (the stack is stopped first)
 */
export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const runId = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const stack = await startLocalStack(options);
  const admin = stack.urls.postgres;
  let postgresTemplate: string | undefined;
  const stop = async () => {
    if (admin) await dropRunDatabases(admin, runId).catch(() => undefined);
    await stack.stop();
  };
  if (admin) {
    try {
      postgresTemplate = `${TEMPLATE_DATABASE_PREFIX}${runId}`;
      await withAdmin(admin, (c) => c.query(`CREATE DATABASE ${postgresTemplate}`));
      await migrateTemplate(databaseUrl(admin, postgresTemplate), options.migrations);
    } catch (error) {
      await stop();
      throw error;
    }
  }
  let stopping: Promise<void> | undefined;
  const stopOnce = () => (stopping ??= stop());
  return {
    info: {
      runId,
      urls: { ...stack.urls },
      backends: { ...stack.backends },
      postgresTemplate,
      ...(options.redisClusterNodes ? { redisClusterNodes: options.redisClusterNodes } : {}),
      ...(options.postgresPooler ? { postgresPooler: options.postgresPooler } : {}),
    },
    stop: stopOnce,
    [Symbol.asyncDispose]: stopOnce,
  };
}
