/**
 * `platform-data/migrator`: apply, revert, check and scaffold the SQL
 * migrations without loading the repositories (for deploy scripts).
 */
export { Migrator, DEFAULT_MIGRATIONS_DIRECTORY } from '../migrator.js';
export type { MigratorOptions, MigrationStatus } from '../migrator.js';
export { NO_TRANSACTION_MARKER } from './migration-source.js';
export type { MigrationFile, MigrationScript } from './migration-source.js';
export type { AppliedMigration, ChecksumMismatch } from './migration-ledger.js';
export type { DriftReport } from '../schema-drift.js';
export { MigrationError } from '../migration-error.js';
export type { MigrationErrorCode } from '../migration-error.js';
