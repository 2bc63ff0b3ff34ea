import type { DependencyContainer } from 'tsyringe';
import { EmbeddingIndex } from './repositories/embedding-index.js';
import { QdrantConnection } from './qdrant-connection.js';
import { QdrantProvisioner } from './qdrant-provisioner.js';
import { PROVISIONER } from '../tokens.js';

/** Registers the Qdrant connection, provisioner (needs EMBEDDING_DIMENSION, registered by the knowledge flows) and embedding index in `container`. */
export function registerQdrant(container: DependencyContainer): void {
  container.registerSingleton(QdrantConnection);
  container.registerSingleton(QdrantProvisioner);
  container.register(PROVISIONER, { useToken: QdrantProvisioner });
  container.registerSingleton(EmbeddingIndex);
}
