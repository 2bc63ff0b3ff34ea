import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../../logger.js';
import { mapPostgresError } from '../map-postgres-error.js';
import { diffSchemaSnapshots, readSchemaSnapshot, type SchemaSnapshot } from './schema-snapshot.js';

export interface DriftReport {
  /** True when the live schema equals one built from zero by the migration files. */
  readonly clean: boolean;
  readonly differences: readonly string[];
}

/**
 * Compares a live schema with one built from zero in a scratch database:
 * creates the scratch database next to the live one, has `build` apply the
 * migrations to it and answer its snapshot, diffs both catalogs and drops the
 * scratch database whatever happened.
 */
export class SchemaDriftCheck {
  /**
   * @param owner an open owner connection to the live database (it creates and drops the scratch database)
   * @param url the live database's URL; the scratch database's URL differs only in its name
   */
  constructor(
    private readonly owner: pg.Client,
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  /**
   * @param build applies the migrations to the database at `scratchUrl` and reads its snapshot
   * @throws StoreUnavailableError, or PlatformError when the owner may not create databases (needs CREATEDB)
   */
  async run(build: (scratchUrl: string) => Promise<SchemaSnapshot>): Promise<DriftReport> {
    const scratchName = `platform_check_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const scratchUrl = new URL(this.url);
    scratchUrl.pathname = `/${scratchName}`;
    try {
      await this.owner.query(`CREATE DATABASE ${scratchName} TEMPLATE template0`);
    } catch (error) {
      throw mapPostgresError(error);
    }
    try {
      const expected = await build(scratchUrl.toString());
      const actual = await readSchemaSnapshot(this.owner);
      const differences = diffSchemaSnapshots(expected, actual);
      return { clean: differences.length === 0, differences };
    } finally {
      await this.owner.query(`DROP DATABASE IF EXISTS ${scratchName} WITH (FORCE)`).catch((error: unknown) => {
        this.logger.warn('could not drop scratch database', { database: scratchName, error });
      });
    }
  }
}
