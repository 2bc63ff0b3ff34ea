import mongoose from 'mongoose';
import { ConflictError, NotFoundError, PlatformError, StoreUnavailableError, ValidationError } from '../errors.js';

interface MongoLikeError {
  name?: unknown;
  code?: unknown;
  codeName?: unknown;
  message?: unknown;
  keyPattern?: unknown;
  keyValue?: unknown;
  errInfo?: unknown;
  writeErrors?: unknown;
}

const NETWORK_ERRORS = new Set([
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
  'MongoPoolClearedError',
]);

/** The index name in an E11000 message (`index: name_1 dup key: …`). */
function duplicateIndex(message: string): string | undefined {
  return /index: (\S+) dup key/.exec(message)?.[1];
}

/**
 * Maps mongoose / MongoDB driver errors to the package's classes:
 * 11000/11001 → ConflictError (index name), 121 and mongoose validation / cast
 * errors → ValidationError, DocumentNotFoundError → NotFoundError, network and
 * server-selection errors → StoreUnavailableError. Never echoes key values
 * (they may be personal data).
 */
export function mapMongoError(error: unknown, url?: string): PlatformError {
  if (error instanceof PlatformError) return error;
  if (error instanceof mongoose.Error.ValidationError) {
    return new ValidationError(
      Object.entries(error.errors).map(([path, e]) => ({ path, message: e.message, code: e.kind })),
      { cause: error },
    );
  }
  if (error instanceof mongoose.Error.CastError) {
    return new ValidationError([{ path: error.path, message: `must be a valid ${error.kind}`, code: 'cast' }], { cause: error });
  }
  if (error instanceof mongoose.Error.DocumentNotFoundError) {
    return new NotFoundError('document', undefined, { cause: error });
  }
  const e = (error ?? {}) as MongoLikeError;
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : String(error);
  const firstWriteError = Array.isArray(e.writeErrors) ? (e.writeErrors[0] as MongoLikeError | undefined) : undefined;
  const code = typeof e.code === 'number' ? e.code : typeof firstWriteError?.code === 'number' ? firstWriteError.code : undefined;
  if (code === 11000 || code === 11001) {
    const keyPattern = (e.keyPattern ?? {}) as Record<string, unknown>;
    const index =
      duplicateIndex(message) ??
      (Object.keys(keyPattern).length > 0
        ? Object.keys(keyPattern)
            .map((k) => `${k}_${String(keyPattern[k])}`)
            .join('_')
        : undefined);
    return new ConflictError(`Duplicate key violates index ${index ?? '(unknown)'}`, { store: 'mongo', constraint: index, cause: error });
  }
  if (code === 121) {
    return new ValidationError([{ path: '', message: 'Document failed collection validation', code: '121' }], { cause: error });
  }
  if (code === 2 || code === 9 || code === 14) {
    return new ValidationError([{ path: '', message: message.slice(0, 200), code: String(code) }], { cause: error });
  }
  if (NETWORK_ERRORS.has(name) || /ECONNREFUSED|connection .* closed|timed out/i.test(message)) {
    return new StoreUnavailableError('mongo', message.split('\n')[0]?.slice(0, 200) ?? 'unavailable', { url, cause: error });
  }
  return new PlatformError('MONGO_ERROR', message.slice(0, 500), { cause: error });
}

/**
 * Runs one repository operation and maps whatever it throws (driver, mongoose,
 * tenant plugin) through {@link mapMongoError}, so callers only ever see
 * PlatformError subclasses. The one wrapper of this folder; every store has its `with<Store>Errors`.
 */
export async function withMongoErrors<T>(work: () => Promise<T>, url?: string): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapMongoError(error, url);
  }
}

/** The async-iterable counterpart of {@link withMongoErrors}, for cursors. */
export async function* iterateWithMongoErrors<T>(source: () => AsyncIterable<T>, url?: string): AsyncGenerator<T> {
  try {
    yield* source();
  } catch (error) {
    throw mapMongoError(error, url);
  }
}
