import type { DependencyContainer } from 'tsyringe';
import { EmbeddingIndex } from './repositories/embedding-index.js';
import { QdrantConnection } from './qdrant-connection.js';
import { QdrantProvisioner } from './qdrant-provisioner.js';

/** Registers the Qdrant connection, provisioner and embedding index in `container`. */
export function registerQdrant(container: DependencyContainer): void {
  container.registerSingleton(QdrantConnection);
  container.registerSingleton(QdrantProvisioner);
  container.registerSingleton(EmbeddingIndex);
}
