/**
 * `platform-data/qdrant`: the Qdrant connection, provisioning and the
 * tenant-filtered embedding index.
 */
export { QdrantConnection } from './qdrant-connection.js';
export { QdrantProvisioner } from './qdrant-provisioner.js';
export type { QdrantCollectionStatus } from './qdrant-provisioner.js';
export { mapQdrantError } from './map-qdrant-error.js';
export { EmbeddingIndex, DEFAULT_UPSERT_BATCH_SIZE } from './repositories/embedding-index.js';
export type { EmbeddingPoint, EmbeddingHit, EmbeddingSearchOptions } from './repositories/embedding-index.js';
export { knowledgeCollection, knowledgeCollectionName } from './knowledge-collection.js';
export type { QdrantCollectionSpec, QdrantPayloadIndexSpec } from './knowledge-collection.js';
export { knowledgePointId } from './knowledge-point-id.js';
