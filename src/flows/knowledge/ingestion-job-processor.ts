import { inject, injectable } from 'tsyringe';
import { DEFAULT_KNOWLEDGE_INGESTION_OPTIONS, type KnowledgeIngestionOptions } from '../../knowledge-ingestion-options.js';
import type { Embedder } from '../../embedder.js';
import { NotFoundError, PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { KnowledgeChunkRepository } from '../../mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository, type KnowledgeDocument } from '../../mongo/repositories/knowledge-document-repository.js';
import { EmbeddingIndex } from '../../qdrant/repositories/embedding-index.js';
import type { JobContext } from '../../redis/job-queues.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import type { TextSplitter } from '../../text-splitter.js';
import { EMBEDDER, KNOWLEDGE_INGESTION_OPTIONS, LOGGER, TEXT_SPLITTER } from '../../tokens.js';
import { estimateTokenCount } from './estimate-token-count.js';
import { failureReason } from './failure-reason.js';
import type { IngestionJobData } from './ingestion-queue.js';
import { ingestionWorkerContext } from './ingestion-worker-context.js';

type ProcessOutcome = 'indexed' | 'deleted' | 'superseded' | 'already-indexed';

/**
 * The `ingestion` job: split → embed in batches → Qdrant upsert → MongoDB
 * chunks → drop the older version → indexed. Every write has a deterministic
 * id (organization, document, version, ordinal), so a retry or a stalled job
 * run twice ends in the same state. `KnowledgeIngestion` is the entry point.
 */
@injectable()
@accessControlled
export class IngestionJobProcessor {
  readonly #options: KnowledgeIngestionOptions;

  constructor(
    @inject(KnowledgeDocumentRepository) private readonly documents: KnowledgeDocumentRepository,
    @inject(KnowledgeChunkRepository) private readonly chunks: KnowledgeChunkRepository,
    @inject(EmbeddingIndex) private readonly index: EmbeddingIndex,
    @inject(EMBEDDER) private readonly embedder: Embedder,
    @inject(TEXT_SPLITTER) private readonly splitter: TextSplitter,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(KNOWLEDGE_INGESTION_OPTIONS) options: Partial<KnowledgeIngestionOptions>,
  ) {
    this.#options = { ...DEFAULT_KNOWLEDGE_INGESTION_OPTIONS, ...options };
  }

  /**
   * Indexes one document version. Idempotent; a stale job (the document was
   * deleted or has a newer version) does nothing.
   *
   * @throws whatever a step threw, after marking the document `failed` with the reason (so BullMQ retries)
   */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  async processIngestionJob(job: JobContext<IngestionJobData>): Promise<void> {
    const started = performance.now();
    const outcome = await this.#process(job);
    this.logger.debug('ingestion job done', { jobId: job.jobId, outcome, ms: Math.round(performance.now() - started) });
  }

  async #process(job: JobContext<IngestionJobData>): Promise<ProcessOutcome> {
    const { organizationId, documentId, version } = job.data;
    const ctx = ingestionWorkerContext(organizationId);
    const document = await this.#current(ctx, documentId);
    if (!document) return 'deleted';
    if (document.version !== version) return 'superseded';
    if (document.status === 'indexed') return 'already-indexed';
    try {
      if (!(await this.documents.setStatus(ctx, documentId, 'indexing', { version }))) return 'superseded';
      return await this.#index(ctx, document, job.signal);
    } catch (error) {
      const reason = failureReason(error);
      await this.documents
        .setStatus(ctx, documentId, 'failed', { version, error: `${reason} (attempt ${job.attempt} of ${job.maxAttempts})` })
        .catch((e: unknown) => this.logger.warn('could not mark a knowledge document failed', { documentId, error: e }));
      this.logger.warn('ingestion attempt failed', { jobId: job.jobId, attempt: job.attempt, error: reason });
      throw error;
    }
  }

  async #index(ctx: TenantContext, document: KnowledgeDocument, signal: AbortSignal | undefined): Promise<ProcessOutcome> {
    const { id: documentId, version } = document;
    if (document.content === null) {
      throw new PlatformError(
        'KNOWLEDGE_CONTENT_NOT_INLINE',
        `knowledge document ${documentId} keeps its content by reference (contentRef); the pipeline indexes inline content only`,
      );
    }
    const texts = await this.splitter.split(document.content);

    const { embedBatchSize, upsertBatchSize } = this.#options;
    for (let start = 0; start < texts.length; start += embedBatchSize) {
      signal?.throwIfAborted();
      const batch = texts.slice(start, start + embedBatchSize);
      const vectors = await this.embedder.embed(batch);
      if (vectors.length !== batch.length)
        throw new PlatformError('EMBEDDER_MISMATCH', `embedder returned ${vectors.length} vectors for ${batch.length} texts`);
      const wrong = vectors.findIndex((v) => v.length !== this.embedder.dimension);
      if (wrong !== -1)
        throw new PlatformError('EMBEDDER_MISMATCH', `embedder returned a vector of length ${vectors[wrong]?.length} for dimension ${this.embedder.dimension}`);
      // Deterministic point ids (organization, document, version, ordinal): a retry overwrites, never duplicates.
      await this.index.upsert(
        ctx,
        vectors.map((vector, i) => ({ documentId, version, ordinal: start + i, vector })),
        { batchSize: upsertBatchSize },
      );
    }
    // The same version split into fewer chunks than last time (a reindex after a splitter
    // change): ordinals 0…n-1 were just overwritten, so only the tail past the new end goes.
    // Deleting the whole document first would make it vanish from search until the upsert.
    await this.index.deleteOrdinalsFrom(ctx, documentId, version, texts.length);
    signal?.throwIfAborted();
    // Also drops chunk ordinals past the new end (same reason as above).
    await this.chunks.replaceForDocument(
      ctx,
      documentId,
      version,
      texts.map((text) => ({ text, tokenCount: estimateTokenCount(text) })),
    );

    const current = await this.#current(ctx, documentId);
    if (!current) return this.#dropDeleted(ctx, documentId);
    // Only versions BELOW the one read just now, never "all but it": this read may already be
    // stale (a newer version stored and indexed since), and versions only grow, so anything
    // below a version that was current at some point is obsolete — including ours when a newer
    // version came first, so a slow worker removes its own late writes.
    await this.index.deleteVersionsBelow(ctx, documentId, current.version);
    await this.chunks.deleteVersionsBelow(ctx, documentId, current.version);
    if (current.version !== version) return 'superseded';
    // Cheap proof before claiming "indexed": a failed write or a racing cleanup shows up here and the job retries.
    const points = await this.index.countByDocument(ctx, documentId, { version });
    if (points !== texts.length) {
      // A newer version's worker removed ours after our read: nothing to retry.
      const now = await this.#current(ctx, documentId);
      if (!now) return this.#dropDeleted(ctx, documentId);
      if (now.version !== version) return 'superseded';
      throw new PlatformError('KNOWLEDGE_INCONSISTENT', `document ${documentId} v${version}: ${points} points in Qdrant, ${texts.length} chunks`);
    }
    return (await this.documents.setStatus(ctx, documentId, 'indexed', { version, chunkCount: texts.length })) ? 'indexed' : 'superseded';
  }

  /** The document was deleted while we worked: whatever we wrote would be orphaned. */
  async #dropDeleted(ctx: TenantContext, documentId: string): Promise<'deleted'> {
    await this.index.deleteByDocument(ctx, documentId);
    await this.chunks.deleteByDocument(ctx, documentId);
    return 'deleted';
  }

  /** The document as stored now, or undefined when it was deleted. */
  #current(ctx: TenantContext, documentId: string): Promise<KnowledgeDocument | undefined> {
    return this.documents.get(ctx, documentId).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
  }
}
