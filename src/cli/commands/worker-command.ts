import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { QueueWorkers } from '../../flows/queue-workers.js';
import { createPlatform } from '../../platform.js';
import { EXIT, out, reportError } from '../cli-output.js';

/** `platform-data worker`: run the ingestion and erasure workers and the reconcilers until SIGINT/SIGTERM. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run the queue workers (ingestion, erasure) and re-create lost jobs from durable state, until SIGINT/SIGTERM')
    .option('--queues <names>', 'comma-separated: ingestion,erasure', 'ingestion,erasure')
    .option('--concurrency <n>', 'jobs at once per worker', '2')
    .option('--reconcile-every <seconds>', 'reconcile period (0 = only at start)', '60')
    .action(async (options: { queues: string; concurrency: string; reconcileEvery: string }) => {
      const signalled = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      try {
        const queues = options.queues.split(',').map((q) => q.trim());
        for (const q of queues) if (q !== 'ingestion' && q !== 'erasure') throw new Error(`unknown queue "${q}" (expected ingestion, erasure)`);
        const concurrency = Number(options.concurrency);
        const every = Number(options.reconcileEvery);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new Error('--concurrency must be an integer 1-64');
        if (!Number.isFinite(every) || every < 0) throw new Error('--reconcile-every must be a number of seconds ≥ 0');
        await using platform = createPlatform(loadConfig(process.env));
        await platform.start();
        const first = await platform.resolve(QueueWorkers).start({ queues: queues as Array<'ingestion' | 'erasure'>, concurrency, reconcileEveryMs: every * 1000 });
        out(`workers running: ${queues.join(', ')} (concurrency ${concurrency}); reconcile re-enqueued ${JSON.stringify(first)}`);
        await signalled;
        out('stopping: waiting for active jobs');
        process.exitCode = EXIT.ok;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
