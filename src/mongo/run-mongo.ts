import { mapMongoError } from './map-mongo-error.js';

/**
 * Runs one repository operation and maps whatever it throws (driver, mongoose,
 * tenant plugin) through {@link mapMongoError}, so callers only ever see
 * PlatformError subclasses.
 */
export async function runMongo<T>(operation: () => Promise<T>, url?: string): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw mapMongoError(error, url);
  }
}

/** The async-iterable counterpart of {@link runMongo}, for cursors. */
export async function* iterateMongo<T>(source: () => AsyncIterable<T>, url?: string): AsyncGenerator<T> {
  try {
    yield* source();
  } catch (error) {
    throw mapMongoError(error, url);
  }
}
