import { instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import { EMBEDDER, EMBEDDING_DIMENSION, KNOWLEDGE_INGESTION_OPTIONS, TEXT_SPLITTER } from '../../tokens.js';
import { HashingEmbedder } from './hashing-embedder.js';
import { IngestionJobProcessor } from './ingestion-job-processor.js';
import { KnowledgeConsistencyCheck } from './knowledge-consistency-check.js';
import { KnowledgeIngestion } from './knowledge-ingestion.js';
import { KnowledgeReconciler } from './knowledge-reconciler.js';
import { KnowledgeSearch } from './knowledge-search.js';
import { LangchainTextSplitter } from './langchain-text-splitter.js';

/** Dimension of the default embedder (the deterministic HashingEmbedder). */
export const DEFAULT_EMBEDDING_DIMENSION = 256;

/**
 * Registers the knowledge pipeline: defaults for EMBEDDER and TEXT_SPLITTER
 * (a later registration — `createPlatform(config, { embedder })` or
 * `container.register` before first use — wins), the embedder's dimension
 * (EMBEDDING_DIMENSION, which the Qdrant provisioner sizes the collection by),
 * ingestion and search.
 */
export function registerKnowledge(container: DependencyContainer): void {
  container.register(EMBEDDER, { useFactory: instanceCachingFactory(() => new HashingEmbedder({ dimension: DEFAULT_EMBEDDING_DIMENSION })) });
  container.register(TEXT_SPLITTER, { useFactory: instanceCachingFactory(() => new LangchainTextSplitter()) });
  container.register(KNOWLEDGE_INGESTION_OPTIONS, { useValue: {} });
  container.register(EMBEDDING_DIMENSION, { useFactory: (c) => c.resolve(EMBEDDER).dimension });
  container.registerSingleton(IngestionJobProcessor);
  container.registerSingleton(KnowledgeReconciler);
  container.registerSingleton(KnowledgeConsistencyCheck);
  container.registerSingleton(KnowledgeIngestion);
  container.registerSingleton(KnowledgeSearch);
}
