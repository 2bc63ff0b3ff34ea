/**
 * `platform-data/migrator`: apply, revert, check and scaffold the SQL
 * migrations without loading the repositories (for deploy scripts).
 */
export { Migrator, DEFAULT_MIGRATIONS_DIRECTORY, NO_TRANSACTION_MARKER, appLedgerName } from '../migrator.js';
export type { MigratorOptions, MigrationStatus, MigrationFile, AppliedMigration, ChecksumMismatch, DriftReport } from '../migrator.js';
export { MigrationError } from '../migration-error.js';
export type { MigrationErrorCode } from '../migration-error.js';
