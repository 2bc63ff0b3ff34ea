import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { mapPostgresError } from './map-postgres-error.js';
import { diffSchemaSnapshots, readSchemaSnapshot, type SchemaSnapshot } from './schema-snapshot.js';

export interface DriftReport {
  /** True when the live schema equals one built from zero by the migration files. */
  readonly clean: boolean;
  readonly differences: readonly string[];
}

/**
 * Compares the live schema of `client`'s database with one built from zero:
 * creates a scratch database beside it, lets `buildFromZero` migrate it and
 * read its snapshot, compares both catalogs and drops the scratch database.
 * @throws StoreUnavailableError, or PlatformError when the owner may not create databases (needs CREATEDB)
 */
export async function checkSchemaDrift(
  client: pg.Client,
  url: string,
  buildFromZero: (scratchUrl: string) => Promise<SchemaSnapshot>,
  logger: Logger,
): Promise<DriftReport> {
  const scratchName = `platform_check_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const scratchUrl = new URL(url);
  scratchUrl.pathname = `/${scratchName}`;
  try {
    await client.query(`CREATE DATABASE ${scratchName} TEMPLATE template0`);
  } catch (error) {
    throw mapPostgresError(error);
  }
  try {
    const expected = await buildFromZero(scratchUrl.toString());
    const differences = diffSchemaSnapshots(expected, await readSchemaSnapshot(client));
    return { clean: differences.length === 0, differences };
  } finally {
    await client.query(`DROP DATABASE IF EXISTS ${scratchName} WITH (FORCE)`).catch((error: unknown) => {
      logger.warn('could not drop scratch database', { database: scratchName, error });
    });
  }
}
