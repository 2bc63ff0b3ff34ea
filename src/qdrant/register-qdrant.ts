import type { DependencyContainer } from 'tsyringe';
import { QdrantConnection } from './qdrant-connection.js';

/** Registers the Qdrant connection and the embedding index in `container`. */
export function registerQdrant(container: DependencyContainer): void {
  container.registerSingleton(QdrantConnection);
}
