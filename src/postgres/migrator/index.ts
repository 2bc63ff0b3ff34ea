/**
 * `platform-data/migrator`: apply, revert, check and scaffold the SQL
 * migrations without loading the repositories (for deploy scripts).
 */
export { Migrator, DEFAULT_MIGRATIONS_DIRECTORY } from '../migrator.js';
export type { MigratorOptions, MigrationFile, MigrationStatus, AppliedMigration, ChecksumMismatch, DriftReport } from '../migrator.js';
export { MigrationError } from '../migration-error.js';
export type { MigrationErrorCode } from '../migration-error.js';
