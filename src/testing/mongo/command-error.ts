import type { Document } from 'bson';

/** Server error codes the stand-in answers with, named as in mongod's error_codes.yml. */
export const ERROR_CODES = {
  InternalError: 1,
  BadValue: 2,
  Unauthorized: 13,
  FailedToParse: 9,
  TypeMismatch: 14,
  PathNotViable: 28,
  ConflictingUpdateOperators: 40,
  IllegalOperation: 20,
  NamespaceNotFound: 26,
  IndexNotFound: 27,
  CursorNotFound: 43,
  NoMatchingDocument: 47,
  MaxTimeMSExpired: 50,
  NamespaceExists: 48,
  CommandNotFound: 59,
  ImmutableField: 66,
  CannotCreateIndex: 67,
  InvalidOptions: 72,
  InvalidNamespace: 73,
  IndexOptionsConflict: 85,
  IndexKeySpecsConflict: 86,
  WriteConflict: 112,
  CommandNotSupported: 115,
  DocumentValidationFailure: 121,
  InvalidIndexSpecificationOption: 197,
  TransactionTooOld: 225,
  NotImplemented: 238,
  NoSuchTransaction: 251,
  TransactionCommitted: 256,
  InvalidResumeToken: 260,
  OperationNotSupportedInTransaction: 263,
  ChangeStreamFatalError: 280,
  ChangeStreamHistoryLost: 286,
  Location15976: 15976,
  Location17419: 17419,
  Location31253: 31253,
  Location31254: 31254,
  Location40324: 40324,
  Location40415: 40415,
  Location40573: 40573,
  Location40602: 40602,
  Location40647: 40647,
  Location40649: 40649,
  Location40674: 40674,
  Location50795: 50795,
  Location50870: 50870,
  Location51057: 51057,
  DuplicateKey: 11000,
} as const;

export type ErrorCodeName = keyof typeof ERROR_CODES;

/**
 * A command failure, turned into `{ok: 0, errmsg, code, codeName, ...extra}`
 * for the reply (or into a `writeErrors[]` entry for write commands).
 */
export class CommandError extends Error {
  readonly code: number;
  readonly codeName: string;
  /** Extra reply fields, e.g. `keyPattern`/`keyValue` for 11000 or `errInfo` for 121. */
  readonly extra: Document;

  constructor(codeName: ErrorCodeName, message: string, extra: Document = {}) {
    super(message);
    this.name = 'CommandError';
    this.code = ERROR_CODES[codeName];
    // Location codes have no name in mongod; it reports "Location<code>".
    this.codeName = codeName;
    this.extra = extra;
  }

  toReply(): Document {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
  }

  /** The `writeErrors[]` entry for the write at `index` of a batch. */
  toWriteError(index: number): Document {
    return { index, code: this.code, errmsg: this.message, ...this.extra };
  }
}
