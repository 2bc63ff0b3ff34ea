import { inject, injectable } from 'tsyringe';
import { DEFAULT_KNOWLEDGE_INGESTION_OPTIONS, type KnowledgeIngestionOptions } from '../../knowledge-ingestion-options.js';
import { z } from 'zod';
import { deterministicUuid } from '../../deterministic-uuid.js';
import { NotFoundError, PlatformError, ValidationError } from '../../errors.js';
import { redactFields, type Logger } from '../../logger.js';
import { KnowledgeChunkRepository } from '../../mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository, type KnowledgeDocument, type KnowledgeDocumentStatus } from '../../mongo/repositories/knowledge-document-repository.js';
import { parseInput } from '../../parse-input.js';
import { EmbeddingIndex } from '../../qdrant/repositories/embedding-index.js';
import { JobQueues, type JobContext, type WorkerHandle, type WorkerOptions } from '../../redis/job-queues.js';
import { INGESTION_QUEUE, type IngestionJobData } from './ingestion-queue.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import { createTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';
import { EMBEDDER, KNOWLEDGE_INGESTION_OPTIONS, LOGGER, TEXT_SPLITTER } from '../../tokens.js';
import type { Embedder } from '../../embedder.js';
import { estimateTokenCount } from './estimate-token-count.js';
import type { TextSplitter } from '../../text-splitter.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

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

/** Organizations the reconciler walks: a list, or a function giving one (e.g. from PostgreSQL — flows must not import it). */
export type OrganizationIdsProvider = readonly string[] | (() => Iterable<string> | AsyncIterable<string> | Promise<Iterable<string>>);

export interface ReconcileKnowledgeOptions {
  /** Default: the configured `stuckAfterMs`. */
  readonly stuckAfterMs?: number;
}

export interface ReconcileKnowledgeResult {
  readonly organizations: number;
  /** One entry per enqueue call (a job that still exists is not duplicated by BullMQ). */
  readonly enqueued: ReadonlyArray<{
    readonly organizationId: string;
    readonly documentId: string;
    readonly version: number;
    readonly status: KnowledgeDocumentStatus;
    readonly jobId: string;
  }>;
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

export interface DocumentConsistency {
  readonly documentId: string;
  readonly version: number;
  readonly status: KnowledgeDocumentStatus;
  /** What the document records (set when indexed). */
  readonly chunkCount: number;
  /** Chunks in MongoDB, all versions. */
  readonly mongoChunks: number;
  /** Points in Qdrant, all versions. */
  readonly qdrantPoints: number;
  readonly consistent: boolean;
  readonly problem?: string;
}

export interface ConsistencyReport {
  readonly consistent: boolean;
  readonly documents: readonly DocumentConsistency[];
}

/** The user id recorded for the ingestion worker's own TenantContext (a fixed name-based UUID, not a real user). */
export const INGESTION_WORKER_USER_ID = deterministicUuid('platform-data:knowledge-ingestion-worker');

/**
 * The context a worker acts under for one job: the job's organization, and
 * only the knowledge permissions (scopes narrow the role), so a job can touch
 * nothing but that organization's knowledge.
 */
export function ingestionWorkerContext(organizationId: string): TenantContext {
  return createTenantContext({
    organizationId,
    userId: INGESTION_WORKER_USER_ID,
    role: 'developer',
    scopes: ['knowledge:read', 'knowledge:write'],
    actor: { kind: 'systemJob', name: 'knowledge-ingestion' },
  });
}

const SAFE_JOB_ID_PART = /^[A-Za-z0-9_.-]{1,120}$/;

/**
 * The BullMQ job id of one document version: `<documentId>-v<version>`, plus
 * `-r<run>` for a reindex run or `-s<ms>` for a reconciler pass, so enqueueing
 * again for the same durable state is a no-op. Document ids with characters a
 * job id cannot hold (`:`, spaces …) are replaced by a UUID derived from them.
 */
export function ingestionJobId(documentId: string, version: number, suffix?: string): string {
  const base = SAFE_JOB_ID_PART.test(documentId) ? documentId : deterministicUuid(`knowledge-job:${documentId}`);
  if (suffix !== undefined && !SAFE_JOB_ID_PART.test(suffix))
    throw new ValidationError([{ path: 'suffix', message: 'must be 1-120 characters of A-Z a-z 0-9 _ . -' }]);
  return `${base}-v${version}${suffix === undefined ? '' : `-${suffix}`}`;
}

const SECRET_IN_TEXT = /\b(bearer|api[-_ ]?key|token|password|secret|authorization)(["'\s:=]+)(?:(?:bearer|basic)\s+)?[^\s"',;]+/gi;

/** A one-line failure reason for the document record: mapped errors keep their code, URLs lose credentials, key-like values are masked. */
export function failureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof PlatformError ? `${error.code}: ` : error instanceof Error && error.name !== 'Error' ? `${error.name}: ` : '';
  const clean = String(redactFields(message)).replace(SECRET_IN_TEXT, '$1$2[redacted]').split('\n')[0] ?? '';
  return `${code}${clean}`.slice(0, 1000);
}

const ingestSchema = z
  .object({
    source: z.string().trim().min(1, 'must not be empty').max(2000),
    title: z.string().trim().max(1000),
    content: z.string().max(8_000_000),
  })
  .strict();

type ProcessOutcome = 'indexed' | 'deleted' | 'superseded' | 'already-indexed';

/**
 * The knowledge ingestion pipeline: MongoDB document (pending) → BullMQ job →
 * split → embed in batches → Qdrant upsert → MongoDB chunks → drop the older
 * version → indexed. Every step is idempotent (deterministic document, job,
 * point and chunk ids), so a retry, a stalled job run twice, or the
 * reconciler re-enqueueing work all end in the same state; no step needs a
 * multi-document transaction.
 */
@injectable()
@accessControlled
export class KnowledgeIngestion {
  readonly #options: KnowledgeIngestionOptions;

  constructor(
    @inject(KnowledgeDocumentRepository) private readonly documents: KnowledgeDocumentRepository,
    @inject(KnowledgeChunkRepository) private readonly chunks: KnowledgeChunkRepository,
    @inject(EmbeddingIndex) private readonly index: EmbeddingIndex,
    @inject(JobQueues) private readonly queues: JobQueues,
    @inject(EMBEDDER) private readonly embedder: Embedder,
    @inject(TEXT_SPLITTER) private readonly splitter: TextSplitter,
    @inject(LOGGER) private readonly logger: Logger,
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

  async #enqueue(organizationId: string, documentId: string, version: number, suffix?: string): Promise<string> {
    const jobId = ingestionJobId(documentId, version, suffix);
    await this.queues.enqueue(
      INGESTION_QUEUE,
      { organizationId, documentId, version },
      { jobId, attempts: this.#options.attempts, backoffMs: this.#options.backoffMs },
    );
    return jobId;
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
   * Re-creates lost ingestion jobs from MongoDB: documents in pending/indexing
   * untouched for `stuckAfterMs` (a lost job, a crashed worker) get a job
   * whose id carries their last update time, and failed documents get their
   * version's job id again (a no-op while BullMQ still holds that job, a
   * fresh start after a Redis loss). Up to 1000 stuck documents per
   * organization per pass; the next pass takes the rest.
   *
   * @throws StoreUnavailableError
   */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  async reconcileKnowledge(organizationIds: OrganizationIdsProvider, options: ReconcileKnowledgeOptions = {}): Promise<ReconcileKnowledgeResult> {
    const enqueued: Array<ReconcileKnowledgeResult['enqueued'][number]> = [];
    const organizations = await this.#scan(organizationIds, options, async (organizationId, doc, jobId) => {
      await this.queues.enqueue(
        INGESTION_QUEUE,
        { organizationId, documentId: doc.id, version: doc.version },
        { jobId, attempts: this.#options.attempts, backoffMs: this.#options.backoffMs },
      );
      enqueued.push({ organizationId, documentId: doc.id, version: doc.version, status: doc.status, jobId });
    });
    return { organizations, enqueued };
  }

  /** Registers {@link reconcileKnowledge} with `JobQueues.reconcile()` for the `ingestion` queue. */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  registerReconciler(organizationIds: OrganizationIdsProvider, options: ReconcileKnowledgeOptions = {}): void {
    this.queues.registerReconciler(INGESTION_QUEUE, async (enqueue) => {
      await this.#scan(organizationIds, options, (organizationId, doc, jobId) => enqueue({ organizationId, documentId: doc.id, version: doc.version }, jobId));
    });
  }

  async #scan(
    organizationIds: OrganizationIdsProvider,
    options: ReconcileKnowledgeOptions,
    enqueue: (organizationId: string, doc: KnowledgeDocument, jobId: string) => Promise<void>,
  ): Promise<number> {
    const stuckAfterMs = parseInput(z.number().int().min(0).default(this.#options.stuckAfterMs), options.stuckAfterMs, 'stuckAfterMs');
    const ids = typeof organizationIds === 'function' ? await organizationIds() : organizationIds;
    let organizations = 0;
    for await (const organizationId of ids) {
      organizations++;
      const ctx = ingestionWorkerContext(organizationId);
      const stuck = await this.documents.findStuck(ctx, { olderThan: new Date(Date.now() - stuckAfterMs), limit: 1000 });
      for (const doc of stuck) await enqueue(organizationId, doc, ingestionJobId(doc.id, doc.version, `s${doc.updatedAt.getTime().toString(36)}`));
      let after: string | undefined;
      do {
        const page = await this.documents.list(ctx, { status: 'failed', limit: 500, ...(after ? { cursor: after } : {}) });
        for (const doc of page.items) await enqueue(organizationId, doc, ingestionJobId(doc.id, doc.version));
        after = page.nextCursor;
      } while (after);
    }
    return organizations;
  }

  /**
   * Compares, per document, the chunks in MongoDB with the points in Qdrant
   * (all versions) and, for indexed documents, with the recorded chunkCount.
   * Two counts per document: meant for operators and tests, not hot paths.
   *
   * @param documentId one document, or every document of the organization
   * @throws NotFoundError for an unknown documentId; TenantAccessError (needs knowledge:read); StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:read' })
  async checkConsistency(ctx: TenantContext, documentId?: string): Promise<ConsistencyReport> {
    requireTenantContext(ctx);
    const documents: DocumentConsistency[] = [];
    const check = async (doc: KnowledgeDocument): Promise<DocumentConsistency> => {
      const [mongoChunks, qdrantPoints] = await Promise.all([this.chunks.countByDocument(ctx, doc.id), this.index.countByDocument(ctx, doc.id)]);
      const problem =
        mongoChunks !== qdrantPoints
          ? `${mongoChunks} chunks in MongoDB, ${qdrantPoints} points in Qdrant`
          : doc.status === 'indexed' && mongoChunks !== doc.chunkCount
            ? `indexed with chunkCount ${doc.chunkCount}, but ${mongoChunks} chunks stored`
            : undefined;
      return {
        documentId: doc.id,
        version: doc.version,
        status: doc.status,
        chunkCount: doc.chunkCount,
        mongoChunks,
        qdrantPoints,
        consistent: problem === undefined,
        ...(problem ? { problem } : {}),
      };
    };
    if (documentId !== undefined) {
      documents.push(await check(await this.documents.get(ctx, documentId)));
    } else {
      let after: string | undefined;
      do {
        const page = await this.documents.list(ctx, { limit: 100, ...(after ? { cursor: after } : {}) });
        documents.push(...(await Promise.all(page.items.map(check))));
        after = page.nextCursor;
      } while (after);
    }
    return { consistent: documents.every((d) => d.consistent), documents };
  }
}
