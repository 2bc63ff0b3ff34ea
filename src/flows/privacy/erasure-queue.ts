import { defineQueue } from '../../redis/job-queues.js';

/** One erasure request recorded in Postgres. */
export interface ErasureJobData {
  /** The organization being deleted, or `''` for a user erasure. */
  readonly organizationId: string;
  readonly requestId: string;
  /**
   * The step this job runs (job id `<requestId>-<step>`); absent: the first
   * unfinished one. The user's id never travels through Redis: the processor
   * reads the subject from the request row in Postgres.
   */
  readonly step?: string;
}

/** The `erasure` queue, owned by the privacy flows. */
export const ERASURE_QUEUE = defineQueue<ErasureJobData>('erasure');
