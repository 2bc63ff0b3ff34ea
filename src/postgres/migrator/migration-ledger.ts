import { MigrationError } from '../migration-error.js';
import type { MigrationFile } from './migration-source.js';

/** One ledger row: a migration applied to this database. */
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

/** The ledger against the files: applied versions whose file changed or vanished. */
export function checksumMismatches(files: readonly MigrationFile[], ledger: readonly AppliedMigration[]): ChecksumMismatch[] {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  const result: ChecksumMismatch[] = [];
  for (const applied of ledger) {
    const file = byVersion.get(applied.version);
    if (!file) result.push({ version: applied.version, name: applied.name, problem: 'missing', appliedChecksum: applied.checksum, fileChecksum: undefined });
    else if (file.checksum !== applied.checksum) {
      result.push({ version: applied.version, name: applied.name, problem: 'changed', appliedChecksum: applied.checksum, fileChecksum: file.checksum });
    }
  }
  return result;
}

/** @throws MigrationError `MIGRATION_FILE_MISSING` / `MIGRATION_CHECKSUM_MISMATCH` naming each version, unless `mismatches` is empty */
export function refuseOnMismatch(mismatches: readonly ChecksumMismatch[]): void {
  if (mismatches.length === 0) return;
  const missing = mismatches.filter((m) => m.problem === 'missing');
  const describe = mismatches.map((m) => `${String(m.version).padStart(4, '0')}_${m.name} (${m.problem})`).join(', ');
  throw new MigrationError(
    missing.length === mismatches.length ? 'MIGRATION_FILE_MISSING' : 'MIGRATION_CHECKSUM_MISMATCH',
    `applied migrations no longer match their files: ${describe}; migrations are append-only — add a new file instead`,
    { versions: mismatches.map((m) => m.version) },
  );
}
