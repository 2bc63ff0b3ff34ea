import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrationError } from '../migration-error.js';
import { NO_TRANSACTION_MARKER, type MigrationFile } from './migration-source.js';

const NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Writes the stubs of a new migration into a folder (`platform-data db create <name>`). */
export class MigrationScaffold {
  constructor(private readonly directory: string) {}

  /**
   * Writes the next-numbered `NNNN_name.sql` and `NNNN_name.down.sql` stubs after `existing`
   * (never over a file: both are created exclusively).
   * @throws MigrationError `MIGRATION_INVALID_FILES` for a name that is not snake_case, or when the numbers are exhausted
   */
  async create(name: string, existing: readonly MigrationFile[]): Promise<{ up: string; down: string }> {
    if (!NAME.test(name)) {
      throw new MigrationError('MIGRATION_INVALID_FILES', `migration name "${name}" must be snake_case: a-z, 0-9 and "_", starting with a letter`);
    }
    const version = String(Math.max(0, ...existing.map((f) => f.version)) + 1).padStart(4, '0');
    if (version.length > 4) throw new MigrationError('MIGRATION_INVALID_FILES', 'migration numbers are exhausted (9999)');
    const up = join(this.directory, `${version}_${name}.sql`);
    const down = join(this.directory, `${version}_${name}.down.sql`);
    await writeFile(
      up,
      `-- ${version} ${name}\n-- What this changes and why. Applied files are immutable: fix mistakes in a new migration.\n-- (Put ${NO_TRANSACTION_MARKER} alone on the first line for CREATE INDEX CONCURRENTLY.)\n\n`,
      { flag: 'wx' },
    );
    await writeFile(down, `-- Reverts ${version}_${name}. Delete this file if reverting would lose data that cannot be rebuilt.\n\n`, { flag: 'wx' });
    return { up, down };
  }
}
