import { defineQueue } from '../../redis/job-queues.js';

/** Ingestion of one knowledge-document version: everything else is read from MongoDB when the job runs. */
export interface IngestionJobData {
  readonly organizationId: string;
  readonly documentId: string;
  readonly version: number;
}

/** The `ingestion` queue, owned by the knowledge flows (job id `<documentId>-v<version>`). */
export const INGESTION_QUEUE = defineQueue<IngestionJobData>('ingestion');
