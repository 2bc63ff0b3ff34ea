import { instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import { EMBEDDER, KNOWLEDGE_INGESTION_OPTIONS, PROVISIONER, TEXT_SPLITTER } from '../../tokens.js';
import { HashingEmbedder } from './hashing-embedder.js';
import { KnowledgeIngestion } from './knowledge-ingestion.js';
import { KnowledgeSearch } from './knowledge-search.js';
import { LangchainTextSplitter } from './langchain-text-splitter.js';
import { QdrantStoreProvisioner } from './qdrant-store-provisioner.js';

/** Dimension of the default embedder (the deterministic HashingEmbedder). */
export const DEFAULT_EMBEDDING_DIMENSION = 256;

/**
 * Registers the knowledge pipeline: defaults for EMBEDDER and TEXT_SPLITTER
 * (a later registration — `createPlatform(config, { embedder })` or
 * `container.register` before first use — wins), the Qdrant provisioner bound
 * to the embedder's dimension, ingestion and search.
 */
export function registerKnowledge(container: DependencyContainer): void {
  container.register(EMBEDDER, { useFactory: instanceCachingFactory(() => new HashingEmbedder({ dimension: DEFAULT_EMBEDDING_DIMENSION })) });
  container.register(TEXT_SPLITTER, { useFactory: instanceCachingFactory(() => new LangchainTextSplitter()) });
  container.register(KNOWLEDGE_INGESTION_OPTIONS, { useValue: {} });
  container.registerSingleton(QdrantStoreProvisioner);
  container.register(PROVISIONER, { useToken: QdrantStoreProvisioner });
  container.registerSingleton(KnowledgeIngestion);
  container.registerSingleton(KnowledgeSearch);
}
