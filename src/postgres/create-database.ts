import pg from 'pg';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../redact-url.js';
import { mapPostgresError } from './map-postgres-error.js';

/**
 * Creates the database named in `url` when it does not exist (`bootstrap
 * --create-database`), connecting as the same user to the server's `postgres`
 * maintenance database; the user needs CREATEDB (or to be a superuser).
 * Idempotent, and safe against a concurrent creation (duplicate_database is "already there").
 * @returns true when it created the database
 * @throws ConfigError when the URL names no database; StoreUnavailableError (refused, auth failed …) otherwise
 */
export async function createDatabaseIfMissing(url: string, options: { connectTimeoutMs: number }): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (name === '') throw new ConfigError([{ path: 'DATABASE_URL', message: 'names no database to create (expected …/<database>)' }]);
  const maintenance = new URL(url);
  maintenance.pathname = name === 'postgres' ? '/template1' : '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: options.connectTimeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ exists: boolean }>('SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists', [name]);
    if (rows[0]?.exists) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } catch (error) {
      if ((error as { code?: string }).code === '42P04') return false; // duplicate_database: a concurrent bootstrap made it
      throw error;
    }
    return true;
  } catch (error) {
    throw mapPostgresError(error, redactUrl(maintenance.toString()));
  } finally {
    await client.end().catch(() => undefined);
  }
}
