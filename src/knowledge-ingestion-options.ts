export interface KnowledgeIngestionOptions {
  /** Texts per `Embedder.embed` call (default 64): bounds request size and memory for remote models. */
  readonly embedBatchSize: number;
  /** Points per Qdrant upsert request (default 128). */
  readonly upsertBatchSize: number;
  /** Attempts per job before it lands in the dead-letter view (default 5). */
  readonly attempts: number;
  /** First retry delay, doubling each attempt (default 1000 ms). */
  readonly backoffMs: number;
  /** A pending/indexing document untouched this long is re-enqueued by the reconciler (default 15 minutes). */
  readonly stuckAfterMs: number;
}

export const DEFAULT_KNOWLEDGE_INGESTION_OPTIONS: KnowledgeIngestionOptions = Object.freeze({
  embedBatchSize: 64,
  upsertBatchSize: 128,
  attempts: 5,
  backoffMs: 1_000,
  stuckAfterMs: 15 * 60_000,
});
