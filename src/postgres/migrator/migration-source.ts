import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrationError } from '../migration-error.js';

/** First-line marker of a file that must run outside a transaction (e.g. `CREATE INDEX CONCURRENTLY`). */
export const NO_TRANSACTION_MARKER = '-- platform-data:no-transaction';

const UP_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const DOWN_FILE = /^(\d{4})_([a-z0-9_]+)\.down\.sql$/;

export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  /** `NNNN_name`, the file name without `.sql`. */
  readonly id: string;
  readonly checksum: string;
  readonly sql: string;
  readonly noTransaction: boolean;
  readonly down: { readonly sql: string; readonly noTransaction: boolean } | undefined;
}

/** Line endings are normalised so a checkout with CRLF does not look like tampering. */
function checksumOf(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

function isNoTransaction(text: string): boolean {
  return text.split('\n', 1)[0]?.trim() === NO_TRANSACTION_MARKER;
}

/**
 * The file source: reads and checks the numbered migration files of
 * `directory` (names, numbering, no duplicates, down files matching their up
 * files) with their checksums.
 * @throws MigrationError `MIGRATION_INVALID_FILES`
 */
export async function readMigrationFiles(directory: string): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    throw new MigrationError('MIGRATION_INVALID_FILES', `cannot read migrations directory ${directory}`, { cause: error });
  }
  const ups = new Map<number, { name: string; file: string }>();
  const downs = new Map<number, { name: string; file: string }>();
  for (const file of names.sort()) {
    if (!file.endsWith('.sql')) continue;
    const down = DOWN_FILE.exec(file);
    const up = down ? undefined : UP_FILE.exec(file);
    const match = down ?? up;
    if (!match) {
      throw new MigrationError('MIGRATION_INVALID_FILES', `${file}: expected NNNN_snake_case_name.sql or NNNN_snake_case_name.down.sql`);
    }
    const version = Number.parseInt(match[1] ?? '', 10);
    const target = down ? downs : ups;
    if (target.has(version)) {
      throw new MigrationError('MIGRATION_INVALID_FILES', `two ${down ? 'down ' : ''}migrations numbered ${match[1]}`, { versions: [version] });
    }
    target.set(version, { name: match[2] ?? '', file });
  }
  const result: MigrationFile[] = [];
  for (const [version, up] of [...ups].sort(([a], [b]) => a - b)) {
    const sql = await readFile(join(directory, up.file), 'utf8');
    const downEntry = downs.get(version);
    if (downEntry && downEntry.name !== up.name) {
      throw new MigrationError('MIGRATION_INVALID_FILES', `${downEntry.file} does not match ${up.file}`, { versions: [version] });
    }
    const downSql = downEntry ? await readFile(join(directory, downEntry.file), 'utf8') : undefined;
    result.push({
      version,
      name: up.name,
      id: up.file.slice(0, -'.sql'.length),
      checksum: checksumOf(sql),
      sql,
      noTransaction: isNoTransaction(sql),
      down: downSql === undefined ? undefined : { sql: downSql, noTransaction: isNoTransaction(downSql) },
    });
  }
  for (const version of downs.keys()) {
    if (!ups.has(version)) throw new MigrationError('MIGRATION_INVALID_FILES', `down migration ${version} has no up file`, { versions: [version] });
  }
  return result;
}
