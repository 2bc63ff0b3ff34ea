import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Identifies this test run, so two runs on one server never touch each other's databases. */
export const RUN_ID = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
export const TEMPLATE_PREFIX = 'pd_template_';
export const TEST_DB_PREFIX = 'pd_test_';

export function databaseUrl(adminUrl: string, database: string, user?: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  if (user) {
    url.username = user;
    url.password = '';
  }
  return url.toString();
}

export async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates this run's template database and applies every migration to it
 * once, so each test file clones a migrated database in milliseconds.
 */
export async function prepareTemplateDatabase(adminUrl: string): Promise<string> {
  const name = `${TEMPLATE_PREFIX}${RUN_ID}`;
  await withAdmin(adminUrl, async (c) => {
    await c.query(`CREATE DATABASE ${name}`);
  });
  const { migrateTemplate } = await import('./migrate-template.js');
  await migrateTemplate(databaseUrl(adminUrl, name));
  return name;
}

/** Drops this run's template and test databases (and any left by runs that died more than a day ago is not our business). */
export async function dropTestDatabases(adminUrl: string): Promise<void> {
  await withAdmin(adminUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`,
      [`${TEST_DB_PREFIX}${RUN_ID}_%`, `${TEMPLATE_PREFIX}${RUN_ID}`],
    );
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  });
}
