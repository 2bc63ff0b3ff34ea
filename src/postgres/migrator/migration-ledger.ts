import type pg from 'pg';
import { MigrationError } from '../migration-error.js';
import type { MigrationFile } from './migration-source.js';

export const LEDGER_TABLE = 'platform_migrations';

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: Date;
  readonly executionMs: number;
}

export interface ChecksumMismatch {
  readonly version: number;
  readonly name: string;
  readonly problem: 'changed' | 'missing';
  readonly appliedChecksum: string;
  readonly fileChecksum: string | undefined;
}

interface LedgerRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
  execution_ms: number;
}

const toApplied = (r: LedgerRow): AppliedMigration => ({
  version: r.version,
  name: r.name,
  checksum: r.checksum,
  appliedAt: r.applied_at,
  executionMs: r.execution_ms,
});

/** The table `platform_migrations`: one row per applied migration with the checksum of the file as applied. */
export class MigrationLedger {
  readonly #client: pg.Client;

  constructor(client: pg.Client) {
    this.#client = client;
  }

  /** Creates the table; callers hold the migration lock (concurrent CREATE TABLE IF NOT EXISTS can collide on pg_type). */
  async create(): Promise<void> {
    await this.#client.query(`
      CREATE TABLE IF NOT EXISTS ${LEDGER_TABLE} (
        version       integer PRIMARY KEY,
        name          text NOT NULL,
        checksum      text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
        applied_at    timestamptz NOT NULL DEFAULT now(),
        execution_ms  integer NOT NULL
      )`);
  }

  async exists(): Promise<boolean> {
    const { rows } = await this.#client.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [`public.${LEDGER_TABLE}`]);
    return rows[0]?.exists ?? false;
  }

  /** Every applied migration by version (empty when nothing was ever applied). */
  async read(): Promise<AppliedMigration[]> {
    if (!(await this.exists())) return [];
    const { rows } = await this.#client.query<LedgerRow>(`SELECT version, name, checksum, applied_at, execution_ms FROM ${LEDGER_TABLE} ORDER BY version`);
    return rows.map(toApplied);
  }

  async find(version: number): Promise<AppliedMigration | undefined> {
    const { rows } = await this.#client.query<LedgerRow>(`SELECT version, name, checksum, applied_at, execution_ms FROM ${LEDGER_TABLE} WHERE version = $1`, [
      version,
    ]);
    return rows[0] && toApplied(rows[0]);
  }

  async latest(): Promise<AppliedMigration | undefined> {
    const { rows } = await this.#client.query<LedgerRow>(
      `SELECT version, name, checksum, applied_at, execution_ms FROM ${LEDGER_TABLE} ORDER BY version DESC LIMIT 1`,
    );
    return rows[0] && toApplied(rows[0]);
  }

  async record(file: MigrationFile, executionMs: number): Promise<void> {
    await this.#client.query(`INSERT INTO ${LEDGER_TABLE} (version, name, checksum, execution_ms) VALUES ($1, $2, $3, $4)`, [
      file.version,
      file.name,
      file.checksum,
      Math.round(executionMs),
    ]);
  }

  async forget(version: number): Promise<void> {
    await this.#client.query(`DELETE FROM ${LEDGER_TABLE} WHERE version = $1`, [version]);
  }
}

/** Applied migrations whose file changed or vanished. */
export function checksumMismatches(files: readonly MigrationFile[], ledger: readonly AppliedMigration[]): ChecksumMismatch[] {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  return ledger.flatMap((applied): ChecksumMismatch[] => {
    const file = byVersion.get(applied.version);
    if (file?.checksum === applied.checksum) return [];
    return [
      { version: applied.version, name: applied.name, problem: file ? 'changed' : 'missing', appliedChecksum: applied.checksum, fileChecksum: file?.checksum },
    ];
  });
}

/** @throws MigrationError `MIGRATION_FILE_MISSING` or `MIGRATION_CHECKSUM_MISMATCH` naming every mismatch */
export function refuseMismatches(mismatches: readonly ChecksumMismatch[]): void {
  if (mismatches.length === 0) return;
  const missing = mismatches.filter((m) => m.problem === 'missing');
  const describe = mismatches.map((m) => `${String(m.version).padStart(4, '0')}_${m.name} (${m.problem})`).join(', ');
  throw new MigrationError(
    missing.length === mismatches.length ? 'MIGRATION_FILE_MISSING' : 'MIGRATION_CHECKSUM_MISMATCH',
    `applied migrations no longer match their files: ${describe}; migrations are append-only — add a new file instead`,
    { versions: mismatches.map((m) => m.version) },
  );
}
