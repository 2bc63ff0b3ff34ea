import { PlatformError } from '../errors.js';

/** Why a migration run refused or failed. */
export type MigrationErrorCode =
  | 'MIGRATION_FAILED'
  | 'MIGRATION_CHECKSUM_MISMATCH'
  | 'MIGRATION_OUT_OF_ORDER'
  | 'MIGRATION_FILE_MISSING'
  | 'MIGRATION_NO_DOWN'
  | 'MIGRATION_INVALID_FILES';

/**
 * A migration refused to run or failed. `versions` names the migrations
 * involved so an operator can find the files at once.
 */
export class MigrationError extends PlatformError {
  readonly versions: readonly number[];
  constructor(code: MigrationErrorCode, message: string, details: { versions?: readonly number[]; cause?: unknown } = {}) {
    super(code, message, { cause: details.cause });
    this.versions = details.versions ?? [];
  }
}
