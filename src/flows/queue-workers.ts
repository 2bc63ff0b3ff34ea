import { inject, injectable } from 'tsyringe';
import type { Logger } from '../logger.js';
import { OrganizationRepository } from '../postgres/repositories/organization-repository.js';
import { JobQueues, type WorkerHandle } from '../redis/job-queues.js';
import { AdminScope } from '../tenancy/admin-scope.js';
import { LIFECYCLE, LOGGER } from '../tokens.js';
import type { Lifecycle } from '../lifecycle.js';
import { ErasureFlow } from './privacy/erasure-flow.js';
import { KnowledgeIngestion } from './knowledge/knowledge-ingestion.js';
import { INGESTION_QUEUE } from './knowledge/ingestion-queue.js';
import { ERASURE_QUEUE } from './privacy/erasure-queue.js';
import { Maintenance } from './operations/maintenance.js';
import { accessControlled, declareAccess } from '../tenancy/declare-access.js';

/** The queues `platform-data worker` can run. */
export type WorkerQueue = 'ingestion' | 'erasure' | 'maintenance';

export interface QueueWorkersOptions {
  /** Which workers to run (default: all three; `maintenance` also keeps the maintenance schedule). */
  readonly queues?: ReadonlyArray<WorkerQueue>;
  /** Concurrency per worker (default 2). */
  readonly concurrency?: number;
  /** Run the reconcilers at start and then every this many ms (default 60 000; 0 = only at start). */
  readonly reconcileEveryMs?: number;
}

/**
 * The queue runtime of a deployment: the ingestion and erasure workers plus
 * the reconcilers that re-create jobs from durable state (PostgreSQL and
 * MongoDB) — after a Redis flush or restart nothing queued is lost for good.
 * The knowledge reconciler walks every live organization from PostgreSQL.
 */
@injectable()
@accessControlled
export class QueueWorkers {
  readonly #handles: WorkerHandle[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    @inject(JobQueues) private readonly queues: JobQueues,
    @inject(KnowledgeIngestion) private readonly ingestion: KnowledgeIngestion,
    @inject(ErasureFlow) private readonly erasure: ErasureFlow,
    @inject(OrganizationRepository) private readonly organizations: OrganizationRepository,
    @inject(Maintenance) private readonly maintenance: Maintenance,
    @inject(LIFECYCLE) lifecycle: Lifecycle,
    @inject(LOGGER) private readonly logger: Logger,
  ) {
    lifecycle.onStop('queue-workers', () => this.stop());
  }

  /** Starts the workers and the reconcile loop; returns what the first reconcile enqueued. */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  async start(options: QueueWorkersOptions = {}): Promise<Partial<Record<'ingestion' | 'erasure', number>>> {
    const queues = options.queues ?? ['ingestion', 'erasure', 'maintenance'];
    const concurrency = options.concurrency ?? 2;
    const scope = AdminScope.create({ actor: 'queue-workers', reason: 'reconcile queued jobs from durable state' });
    if (queues.includes('ingestion')) {
      this.ingestion.registerReconciler(() => this.organizations.listActiveIds(scope));
      this.#handles.push(await this.ingestion.startIngestionWorker({ concurrency }));
    }
    if (queues.includes('erasure')) this.#handles.push(await this.erasure.startWorker({ concurrency }));
    if (queues.includes('maintenance')) this.#handles.push(await this.maintenance.startWorker());
    const first = await this.#reconcile(queues);
    const every = options.reconcileEveryMs ?? 60_000;
    if (every > 0) {
      this.#timer = setInterval(() => void this.#reconcile(queues), every);
      this.#timer.unref();
    }
    return first;
  }

  async #reconcile(queues: ReadonlyArray<WorkerQueue>): Promise<Partial<Record<'ingestion' | 'erasure', number>>> {
    const result: Partial<Record<'ingestion' | 'erasure', number>> = {};
    for (const queue of queues) {
      if (queue === 'maintenance') {
        // The schedule lives in Redis: re-create it after a flush, like the reconcilers re-create jobs.
        await this.maintenance
          .ensureSchedule()
          .catch((error: unknown) => this.logger.warn('maintenance schedule not ensured; retried on the next round', { error }));
        continue;
      }
      try {
        Object.assign(result, await this.queues.reconcile(queue === 'ingestion' ? INGESTION_QUEUE : ERASURE_QUEUE));
      } catch (error) {
        this.logger.warn('reconcile failed; retried on the next round', { queue, error });
      }
    }
    return result;
  }

  /** Stops the reconcile loop and closes the workers (active jobs finish first). Idempotent. */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.allSettled(this.#handles.splice(0).map((h) => h.close()));
  }
}
