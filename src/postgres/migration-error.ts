import { PlatformError, type PlatformErrorCode } from '../errors.js';

/** Why a migration run refused or failed. */
/** Why a migration run refused or failed. */
export type MigrationErrorCode = Extract<PlatformErrorCode, `MIGRATION_${string}`>;

/**
 * A migration refused to run or failed. `versions` names the migrations
 * involved so an operator can find the files at once.
 */
export class MigrationError extends PlatformError<MigrationErrorCode> {
  readonly versions: readonly number[];
  constructor(code: MigrationErrorCode, message: string, details: { versions?: readonly number[]; cause?: unknown } = {}) {
    super(code, message, { cause: details.cause });
    this.versions = details.versions ?? [];
  }
}
