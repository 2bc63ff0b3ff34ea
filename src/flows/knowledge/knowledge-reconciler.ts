import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { DEFAULT_KNOWLEDGE_INGESTION_OPTIONS, type KnowledgeIngestionOptions } from '../../knowledge-ingestion-options.js';
import { KnowledgeDocumentRepository, type KnowledgeDocument, type KnowledgeDocumentStatus } from '../../mongo/repositories/knowledge-document-repository.js';
import { parseInput } from '../../parse-input.js';
import { JobQueues } from '../../redis/job-queues.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { KNOWLEDGE_INGESTION_OPTIONS } from '../../tokens.js';
import { enqueueIngestion, INGESTION_QUEUE, ingestionJobId } from './ingestion-queue.js';
import { ingestionWorkerContext } from './ingestion-worker-context.js';

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

/**
 * Re-creates lost ingestion jobs from MongoDB, the durable state (see
 * {@link KnowledgeReconciler.reconcileKnowledge}). `KnowledgeIngestion` is the entry point.
 */
@injectable()
@accessControlled
export class KnowledgeReconciler {
  readonly #options: KnowledgeIngestionOptions;

  constructor(
    @inject(KnowledgeDocumentRepository) private readonly documents: KnowledgeDocumentRepository,
    @inject(JobQueues) private readonly queues: JobQueues,
    @inject(KNOWLEDGE_INGESTION_OPTIONS) options: Partial<KnowledgeIngestionOptions>,
  ) {
    this.#options = { ...DEFAULT_KNOWLEDGE_INGESTION_OPTIONS, ...options };
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
      await enqueueIngestion(this.queues, this.#options, { organizationId, documentId: doc.id, version: doc.version }, jobId);
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
}
