import { mapPostgresError } from '../map-postgres-error.js';

/**
 * Awaits `work` and maps any driver error to the package's error classes, so
 * owner-pool methods surface the same errors as `withTenant` ones.
 * @throws PlatformError subclasses from mapPostgresError
 */
export async function withMappedErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapPostgresError(error);
  }
}
