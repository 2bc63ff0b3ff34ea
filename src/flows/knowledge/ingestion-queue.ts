import { deterministicUuid } from '../../deterministic-uuid.js';
import { ValidationError } from '../../errors.js';
import type { KnowledgeIngestionOptions } from '../../knowledge-ingestion-options.js';
import { defineQueue, type JobQueues } from '../../redis/job-queues.js';

/** Ingestion of one knowledge-document version: everything else is read from MongoDB when the job runs. */
export interface IngestionJobData {
  readonly organizationId: string;
  readonly documentId: string;
  readonly version: number;
}

/** The `ingestion` queue, owned by the knowledge flows (job id `<documentId>-v<version>`). */
export const INGESTION_QUEUE = defineQueue<IngestionJobData>('ingestion');

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

/** Enqueues the indexing of one document version under `jobId`, with the configured attempts and backoff. */
export async function enqueueIngestion(
  queues: JobQueues,
  options: Pick<KnowledgeIngestionOptions, 'attempts' | 'backoffMs'>,
  data: IngestionJobData,
  jobId: string,
): Promise<string> {
  await queues.enqueue(INGESTION_QUEUE, data, { jobId, attempts: options.attempts, backoffMs: options.backoffMs });
  return jobId;
}
