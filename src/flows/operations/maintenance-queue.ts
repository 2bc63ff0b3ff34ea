import { defineQueue } from '../../redis/job-queues.js';

/** One scheduled maintenance pass: which jobs (all when absent). */
export interface MaintenanceJobData {
  readonly jobs?: readonly string[];
}

/** The `maintenance` queue, owned by the operations flows: its jobs come from one BullMQ job scheduler. */
export const MAINTENANCE_QUEUE = defineQueue<MaintenanceJobData>('maintenance');
