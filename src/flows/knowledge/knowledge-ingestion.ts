import { inject, injectable } from 'tsyringe';
import { DEFAULT_KNOWLEDGE_INGESTION_OPTIONS, type KnowledgeIngestionOptions } from '../../knowledge-ingestion-options.js';
import { z } from 'zod';
import { KnowledgeDocumentRepository, type KnowledgeDocument } from '../../mongo/repositories/knowledge-document-repository.js';
import { parseInput } from '../../parse-input.js';
import { JobQueues, type JobContext, type WorkerHandle, type WorkerOptions } from '../../redis/job-queues.js';
import { enqueueIngestion, INGESTION_QUEUE, ingestionJobId, type IngestionJobData } from './ingestion-queue.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { KNOWLEDGE_INGESTION_OPTIONS } from '../../tokens.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { IngestionJobProcessor } from './ingestion-job-processor.js';
import { KnowledgeConsistencyCheck, type ConsistencyReport } from './knowledge-consistency-check.js';
import { KnowledgeReconciler, type OrganizationIdsProvider, type ReconcileKnowledgeOptions, type ReconcileKnowledgeResult } from './knowledge-reconciler.js';

export interface IngestDocumentInput {
  /** Where it came from (path, URL): with the organization, it determines the document id. */
  readonly source: string;
  readonly title: string;
  readonly content: string;
}

export interface IngestDocumentResult {
  readonly document: KnowledgeDocument;
  readonly created: boolean;
  /** A new version (new or changed content). */
  readonly changed: boolean;
  /** The job that will index this version; undefined when the version is already indexed (same content). */
  readonly jobId: string | undefined;
}

export interface KnowledgeDocumentRef {
  readonly id: string;
  readonly version: number;
}

export interface WaitForIndexingOptions {
  /** Default 120 s. */
  readonly timeoutMs?: number;
  /** Default 200 ms. */
  readonly pollMs?: number;
  /** Called after every poll with how many documents are settled. */
  readonly onProgress?: (settled: number, total: number) => void;
}

export interface WaitForIndexingResult {
  readonly indexed: readonly KnowledgeDocument[];
  /** Failed with attempts exhausted (dead-lettered), with `error` set. */
  readonly failed: readonly KnowledgeDocument[];
  /** Deleted, or replaced by a newer version in the meantime. */
  readonly superseded: readonly KnowledgeDocumentRef[];
  /** Still pending, indexing or retrying when the timeout passed. */
  readonly unsettled: readonly KnowledgeDocument[];
}

export interface ReindexResult {
  readonly documents: ReadonlyArray<KnowledgeDocumentRef & { readonly jobId: string }>;
}

const ingestSchema = z
  .object({
    source: z.string().trim().min(1, 'must not be empty').max(2000),
    title: z.string().trim().max(1000),
    content: z.string().max(8_000_000),
  })
  .strict();

/**
 * The knowledge ingestion pipeline: MongoDB document (pending) → BullMQ job →
 * split → embed in batches → Qdrant upsert → MongoDB chunks → drop the older
 * version → indexed. Every step is idempotent (deterministic document, job,
 * point and chunk ids), so a retry, a stalled job run twice, or the
 * reconciler re-enqueueing work all end in the same state; no step needs a
 * multi-document transaction.
 *
 * The parts: the job itself is `IngestionJobProcessor`, re-creating lost jobs
 * `KnowledgeReconciler`, the store counts `KnowledgeConsistencyCheck`; this
 * class is the entry point and keeps every public method (they delegate).
 */
@injectable()
@accessControlled
export class KnowledgeIngestion {
  readonly #options: KnowledgeIngestionOptions;

  constructor(
    @inject(KnowledgeDocumentRepository) private readonly documents: KnowledgeDocumentRepository,
    @inject(JobQueues) private readonly queues: JobQueues,
    @inject(IngestionJobProcessor) private readonly processor: IngestionJobProcessor,
    @inject(KnowledgeReconciler) private readonly reconciler: KnowledgeReconciler,
    @inject(KnowledgeConsistencyCheck) private readonly consistency: KnowledgeConsistencyCheck,
    @inject(KNOWLEDGE_INGESTION_OPTIONS) options: Partial<KnowledgeIngestionOptions>,
  ) {
    this.#options = { ...DEFAULT_KNOWLEDGE_INGESTION_OPTIONS, ...options };
  }

  /**
   * Stores the document (id derived from organization + source) and enqueues
   * the indexing of its version. The same content again is free: no new
   * version, no job, no new points. Changed content makes the next version,
   * whose job replaces the old version's points and chunks.
   *
   * @throws ValidationError, TenantAccessError (needs knowledge:write), ConflictError, StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:write' })
  async ingestDocument(ctx: TenantContext, input: IngestDocumentInput): Promise<IngestDocumentResult> {
    const { organizationId } = requireTenantContext(ctx);
    const data = parseInput(ingestSchema, input);
    const { document, created, changed } = await this.documents.upsert(ctx, data);
    if (!changed && document.status === 'indexed') return { document, created, changed, jobId: undefined };
    // pending/indexing: the job exists (or the reconciler will re-create it); failed: a retry is due or it is dead-lettered — enqueueing the same id is a no-op either way.
    const jobId = await this.#enqueue(organizationId, document.id, document.version);
    return { document, created, changed, jobId };
  }

  #enqueue(organizationId: string, documentId: string, version: number, suffix?: string): Promise<string> {
    return enqueueIngestion(this.queues, this.#options, { organizationId, documentId, version }, ingestionJobId(documentId, version, suffix));
  }

  /**
   * Starts an ingestion worker in this process (closed by `platform.stop()` or the handle).
   * @throws StoreUnavailableError
   */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  startIngestionWorker(options: WorkerOptions = {}): Promise<WorkerHandle> {
    return this.queues.startWorker(INGESTION_QUEUE, (job) => this.processIngestionJob(job), options);
  }

  /**
   * Indexes one document version: the job processor, public so an
   * application can run it in its own worker. Idempotent; a stale job (the
   * document was deleted or has a newer version) does nothing.
   *
   * @throws whatever a step threw, after marking the document `failed` with the reason (so BullMQ retries)
   */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  processIngestionJob(job: JobContext<IngestionJobData>): Promise<void> {
    return this.processor.processIngestionJob(job);
  }

  /**
   * Polls until each document version is indexed, dead-lettered, deleted or
   * superseded, or the timeout passes (for CLIs, demos and tests; a service
   * just lets the worker run). One MongoDB query per poll.
   *
   * @throws ValidationError, TenantAccessError, StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:read' })
  async waitForIndexing(ctx: TenantContext, refs: readonly KnowledgeDocumentRef[], options: WaitForIndexingOptions = {}): Promise<WaitForIndexingResult> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    const pollMs = options.pollMs ?? 200;
    for (;;) {
      const docs = new Map((await this.documents.getMany(ctx, [...new Set(refs.map((r) => r.id))])).map((d) => [d.id, d]));
      const failedIds = refs.some((r) => docs.get(r.id)?.status === 'failed')
        ? new Set((await this.queues.failedJobs(INGESTION_QUEUE, { limit: 10_000 })).map((j) => `${j.data.documentId}:${j.data.version}`))
        : new Set<string>();
      const result = {
        indexed: [] as KnowledgeDocument[],
        failed: [] as KnowledgeDocument[],
        superseded: [] as KnowledgeDocumentRef[],
        unsettled: [] as KnowledgeDocument[],
      };
      for (const ref of refs) {
        const doc = docs.get(ref.id);
        if (!doc || doc.version !== ref.version) result.superseded.push(ref);
        else if (doc.status === 'indexed') result.indexed.push(doc);
        else if (doc.status === 'failed' && failedIds.has(`${doc.id}:${doc.version}`)) result.failed.push(doc);
        else result.unsettled.push(doc);
      }
      options.onProgress?.(refs.length - result.unsettled.length, refs.length);
      if (result.unsettled.length === 0 || Date.now() >= deadline) return result;
      await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    }
  }

  /**
   * Re-indexes every document of the caller's organization (after changing
   * the splitter or the embedding model): each goes back to pending and gets
   * a job for this run, so documents indexed before are indexed again.
   *
   * @param run names this run in the job ids (e.g. a timestamp); re-using it enqueues nothing new
   * @throws ValidationError, TenantAccessError (needs knowledge:write), StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:write' })
  async reindex(ctx: TenantContext, run: string): Promise<ReindexResult> {
    const { organizationId } = requireTenantContext(ctx);
    const suffix = `r${run}`;
    ingestionJobId('x', 1, suffix);
    const documents: Array<KnowledgeDocumentRef & { jobId: string }> = [];
    let after: string | undefined;
    do {
      const page = await this.documents.list(ctx, { limit: 500, ...(after ? { cursor: after } : {}) });
      for (const doc of page.items) {
        if (!(await this.documents.setStatus(ctx, doc.id, 'pending', { version: doc.version }))) continue;
        documents.push({ id: doc.id, version: doc.version, jobId: await this.#enqueue(organizationId, doc.id, doc.version, suffix) });
      }
      after = page.nextCursor;
    } while (after);
    return { documents };
  }

  /**
   * Re-creates lost ingestion jobs from MongoDB (`KnowledgeReconciler.reconcileKnowledge`).
   * @throws StoreUnavailableError
   */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  reconcileKnowledge(organizationIds: OrganizationIdsProvider, options: ReconcileKnowledgeOptions = {}): Promise<ReconcileKnowledgeResult> {
    return this.reconciler.reconcileKnowledge(organizationIds, options);
  }

  /** Registers {@link reconcileKnowledge} with `JobQueues.reconcile()` for the `ingestion` queue. */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  registerReconciler(organizationIds: OrganizationIdsProvider, options: ReconcileKnowledgeOptions = {}): void {
    this.reconciler.registerReconciler(organizationIds, options);
  }

  /**
   * Compares, per document, the chunks in MongoDB with the points in Qdrant
   * (`KnowledgeConsistencyCheck.checkConsistency`).
   *
   * @param documentId one document, or every document of the organization
   * @throws NotFoundError for an unknown documentId; TenantAccessError (needs knowledge:read); StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:read' })
  checkConsistency(ctx: TenantContext, documentId?: string): Promise<ConsistencyReport> {
    return this.consistency.checkConsistency(ctx, documentId);
  }
}
