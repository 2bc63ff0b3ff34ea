import { mapQdrantError } from './map-qdrant-error.js';

/** Runs one Qdrant operation, mapping whatever it throws through {@link mapQdrantError}. */
export async function runQdrant<T>(operation: () => Promise<T>, url?: string): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw mapQdrantError(error, url);
  }
}
