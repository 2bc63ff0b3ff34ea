import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { ValidationError } from '../../errors.js';
import { QueueWorkers, type WorkerQueue } from '../../flows/queue-workers.js';
import { createPlatform } from '../../platform.js';
import { EXIT, out, reportError } from '../cli-output.js';

const WORKER_QUEUES: readonly WorkerQueue[] = ['ingestion', 'erasure', 'maintenance'];

/** `platform-data worker`: run the ingestion, erasure and maintenance workers, the maintenance schedule and the reconcilers until SIGINT/SIGTERM. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run the queue workers (ingestion, erasure, maintenance with its schedule) and re-create lost jobs from durable state, until SIGINT/SIGTERM')
    .option('--queues <names>', 'comma-separated: ingestion,erasure,maintenance', 'ingestion,erasure,maintenance')
    .option('--concurrency <n>', 'jobs at once per worker', '2')
    .option('--reconcile-every <seconds>', 'reconcile period (0 = only at start)', '60')
    .action(async (options: { queues: string; concurrency: string; reconcileEvery: string }) => {
      const signalled = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      try {
        const queues = options.queues.split(',').map((q) => q.trim());
        for (const q of queues) {
          if (!(WORKER_QUEUES as readonly string[]).includes(q))
            throw new ValidationError([{ path: '--queues', message: `unknown queue "${q}" (expected ${WORKER_QUEUES.join(', ')})` }]);
        }
        const concurrency = Number(options.concurrency);
        const every = Number(options.reconcileEvery);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
          throw new ValidationError([{ path: '--concurrency', message: `must be a whole number from 1 to 64, got ${options.concurrency}` }]);
        }
        if (!Number.isFinite(every) || every < 0 || every > 86_400) {
          throw new ValidationError([{ path: '--reconcile-every', message: `must be a number of seconds from 0 to 86400, got ${options.reconcileEvery}` }]);
        }
        await using platform = createPlatform(loadConfig(process.env));
        await platform.start();
        const first = await platform.resolve(QueueWorkers).start({ queues: queues as WorkerQueue[], concurrency, reconcileEveryMs: every * 1000 });
        out(`workers running: ${queues.join(', ')} (concurrency ${concurrency}); reconcile re-enqueued ${JSON.stringify(first)}`);
        await signalled;
        out('stopping: waiting for active jobs');
        process.exitCode = EXIT.ok;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
