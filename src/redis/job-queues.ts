import { Queue, Worker, type Job } from 'bullmq';
import type { RedisClient } from './redis-connection.js';
import { inject, injectable } from 'tsyringe';
import { PlatformError, StoreUnavailableError, ValidationError } from '../errors.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { LIFECYCLE, LOGGER } from '../tokens.js';
import { withRedisErrors } from './map-redis-error.js';
import { RedisConnection } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { withTimeout } from '../with-timeout.js';

/**
 * A queue: its name and, as a type only, the payload of its jobs. The flow
 * that owns a job kind defines its queue (`INGESTION_QUEUE` in
 * flows/knowledge/, `ERASURE_QUEUE` in flows/privacy/); this folder knows no
 * job kind, so a new one needs no change here.
 */
export interface QueueDefinition<T extends object> {
  /** 1–64 letters, digits, `-` or `_` (it becomes part of the `{q:<name>}` hash tag). */
  readonly name: string;
  /** Never set: carries `T` so `enqueue(queue, data)` checks `data` against the queue's payload. */
  readonly payload?: T;
}

/** @throws ValidationError for a name outside 1–64 letters, digits, `-`, `_` */
export function defineQueue<T extends object>(name: string): QueueDefinition<T> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new ValidationError([{ path: 'queue', message: 'must be 1-64 letters, digits, "-" or "_"' }]);
  return { name };
}

/** When a job scheduler adds its jobs: every `everyMs`, or on a cron `pattern` (UTC). */
export type JobSchedule = { readonly everyMs: number } | { readonly pattern: string };

/** A job scheduler as Redis holds it. */
export interface JobScheduleInfo {
  readonly id: string;
  readonly everyMs: number | undefined;
  readonly pattern: string | undefined;
  /** When the next job is due. */
  readonly next: Date | undefined;
}

export interface EnqueueOptions {
  /**
   * Deterministic id derived from durable state (e.g. `<documentId>-v<version>`),
   * so enqueueing twice, or again from a reconciler, runs the job once. No `:`.
   */
  readonly jobId: string;
  /** Total attempts before the job lands in the dead-letter view (default 5). */
  readonly attempts?: number;
  /** First retry delay; doubles each attempt (default 1000 ms). */
  readonly backoffMs?: number;
  readonly delayMs?: number;
}

/** What a processor sees: our own shape, so flows never depend on BullMQ types. */
export interface JobContext<T extends object> {
  readonly queue: string;
  readonly jobId: string;
  readonly data: T;
  /** 1 for the first run. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Aborted when the worker is force-closed (BullMQ cancellation). */
  readonly signal: AbortSignal | undefined;
}

/** Must be idempotent: BullMQ delivers at least once (a stalled job runs again on another worker). */
export type JobProcessor<T extends object> = (job: JobContext<T>) => Promise<void>;

export interface WorkerOptions {
  readonly concurrency?: number;
  /** Lock on an active job; a worker that dies loses it after this long and the job is re-queued (default 30 s). */
  readonly lockDurationMs?: number;
  /** How often workers look for stalled jobs (default 30 s). */
  readonly stalledIntervalMs?: number;
  /** Stalls tolerated before a job is failed (default 1). */
  readonly maxStalledCount?: number;
}

export interface WorkerHandle {
  readonly queue: string;
  /** Waits for active jobs unless `force`. Idempotent. */
  close(force?: boolean): Promise<void>;
}

/** A job that exhausted its attempts (or failed unrecoverably). */
export interface DeadLetterEntry<T extends object> {
  readonly jobId: string;
  readonly data: T;
  readonly failedReason: string;
  readonly attemptsMade: number;
  readonly failedAt: Date | undefined;
}

/**
 * Re-creates the jobs of a queue from durable state (Postgres/MongoDB): scans
 * for work not done and calls `enqueue` with the same deterministic ids, so
 * re-running it after a Redis loss, or at any time, is safe.
 */
export type JobReconciler<T extends object> = (enqueue: (data: T, jobId: string) => Promise<void>) => Promise<void>;

// Completed jobs are kept so a duplicate add within this window is ignored by BullMQ; past it, processors' idempotency covers.
const KEEP_COMPLETED = { age: 7 * 86_400, count: 10_000 };
const KEEP_FAILED = { age: 30 * 86_400 };

/**
 * The BullMQ queues the flows define (`ingestion`, `erasure`). Every queue's keys carry the
 * `{q:<name>}` hash tag (BullMQ's Lua scripts touch several keys of a queue,
 * which must share a Cluster slot) under `REDIS_KEY_PREFIX`. Redis should run
 * with `maxmemory-policy noeviction` (see `checkRedisForQueues`).
 */
@injectable()
export class JobQueues {
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Set<Worker>();
  readonly #reconcilers = new Map<string, JobReconciler<object>>();
  #connection: RedisClient | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    @inject(RedisConnection) private readonly redis: RedisConnection,
    @inject(RedisKeys) private readonly keys: RedisKeys,
    @inject(LIFECYCLE) private readonly lifecycle: Lifecycle,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  #queue(name: string): Queue {
    if (this.#closing) throw new PlatformError('CLOSED', 'JobQueues is closed');
    let queue = this.#queues.get(name);
    if (!queue) {
      if (!this.#connection) {
        this.#connection = this.redis.createBlockingConnection();
        this.lifecycle.onStop('job-queues', () => this.close());
      }
      queue = new Queue(name, { connection: this.#connection, prefix: this.keys.queuePrefix(name) });
      queue.on('error', (error: Error) => this.logger.warn('queue error', { queue: name, error }));
      this.#queues.set(name, queue);
    }
    return queue;
  }

  /**
   * Adds a job; a job with the same `jobId` that still exists (waiting,
   * active, delayed, completed within 7 days, failed within 30) is not added again.
   * @returns the job id.
   * @throws ValidationError for a `jobId` containing `:`; StoreUnavailableError.
   */
  async enqueue<T extends object>(queue: QueueDefinition<T>, data: T, options: EnqueueOptions): Promise<string> {
    const name = queue.name;
    if (!/^[^:\s]{1,200}$/.test(options.jobId)) throw new ValidationError([{ path: 'jobId', message: 'must be 1-200 characters without ":" or whitespace' }]);
    // BullMQ's connection retries forever (maxRetriesPerRequest: null), so an outage would hold the caller
    // for as long as it lasts: bound it. An add that lands after the bound is harmless — a retry with the
    // same jobId is not added twice.
    const bound = this.redis.commandTimeoutMs;
    const adding = this.#queue(name).add(name, data, {
      jobId: options.jobId,
      attempts: options.attempts ?? 5,
      backoff: { type: 'exponential', delay: options.backoffMs ?? 1_000 },
      delay: options.delayMs,
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    });
    adding.catch(() => undefined);
    const job = await withRedisErrors(() => withTimeout(adding, bound, () => new StoreUnavailableError('redis', `enqueue: no answer within ${bound} ms`)));
    return job.id ?? options.jobId;
  }

  /**
   * Starts a worker; it is closed by `Platform.stop()` (LIFECYCLE hook) or by the returned handle.
   * @throws StoreUnavailableError
   */
  async startWorker<T extends object>(queue: QueueDefinition<T>, processor: JobProcessor<T>, options: WorkerOptions = {}): Promise<WorkerHandle> {
    const name = queue.name;
    this.#queue(name);
    const connection = this.#connection;
    if (!connection) throw new PlatformError('NOT_STARTED', 'no queue connection');
    const worker = new Worker(
      name,
      async (job: Job, _token?: string, signal?: AbortSignal) => {
        await processor({
          queue: name,
          jobId: job.id ?? '',
          data: job.data as T,
          attempt: job.attemptsMade + 1,
          maxAttempts: job.opts.attempts ?? 1,
          signal,
        });
      },
      {
        connection,
        prefix: this.keys.queuePrefix(name),
        concurrency: options.concurrency ?? 1,
        lockDuration: options.lockDurationMs ?? 30_000,
        stalledInterval: options.stalledIntervalMs ?? 30_000,
        maxStalledCount: options.maxStalledCount ?? 1,
        removeOnComplete: KEEP_COMPLETED,
        removeOnFail: KEEP_FAILED,
        autorun: false,
      },
    );
    worker.on('error', (error: Error) => this.logger.warn('worker error', { queue: name, error }));
    worker.on('failed', (job: Job | undefined, error: Error) =>
      this.logger.debug('job attempt failed', { queue: name, jobId: job?.id, attempt: job?.attemptsMade, error }),
    );
    this.#workers.add(worker);
    void worker.run().catch((error: unknown) => this.logger.error('worker stopped', { queue: name, error }));
    await withRedisErrors(() => worker.waitUntilReady());
    let closing: Promise<void> | undefined;
    const close = (force = false) =>
      (closing ??= worker.close(force).finally(() => {
        this.#workers.delete(worker);
      }));
    this.lifecycle.onStop(`worker:${name}`, () => close());
    return { queue: name, close };
  }

  /**
   * The dead-letter view: jobs that exhausted their attempts, newest first.
   * @throws StoreUnavailableError
   */
  async failedJobs<T extends object>(queue: QueueDefinition<T>, page: { offset?: number; limit?: number } = {}): Promise<Array<DeadLetterEntry<T>>> {
    const name = queue.name;
    const offset = page.offset ?? 0;
    const jobs = await withRedisErrors(() => this.#queue(name).getFailed(offset, offset + (page.limit ?? 100) - 1));
    return jobs.map((job) => ({
      jobId: job.id ?? '',
      data: job.data as T,
      failedReason: job.failedReason,
      attemptsMade: job.attemptsMade,
      failedAt: job.finishedOn === undefined ? undefined : new Date(job.finishedOn),
    }));
  }

  /**
   * Moves dead-lettered jobs back to waiting (all, or the given ids), with a fresh set of attempts.
   * @returns how many were retried.
   * @throws StoreUnavailableError
   */
  async retryFailed(definition: QueueDefinition<object>, jobIds?: readonly string[]): Promise<number> {
    const queue = this.#queue(definition.name);
    const ids = jobIds ?? (await this.failedJobs(definition, { limit: 10_000 })).map((j) => j.jobId);
    let retried = 0;
    for (const id of ids) {
      const job = await withRedisErrors(() => queue.getJob(id));
      if (job && (await job.isFailed())) {
        await withRedisErrors(() => job.retry('failed', { resetAttemptsMade: true }));
        retried++;
      }
    }
    return retried;
  }

  /**
   * Creates or replaces the job scheduler `schedulerId` of a queue (BullMQ job
   * schedulers): one scheduler per id however many processes upsert it, so
   * every worker may call this at start and each period still yields one job.
   * @throws ValidationError for a `schedulerId` containing `:`; StoreUnavailableError
   */
  async upsertSchedule<T extends object>(queue: QueueDefinition<T>, schedulerId: string, schedule: JobSchedule, data: T): Promise<void> {
    const { name } = queue;
    if (!/^[^:\s]{1,200}$/.test(schedulerId))
      throw new ValidationError([{ path: 'schedulerId', message: 'must be 1-200 characters without ":" or whitespace' }]);
    const repeat = 'pattern' in schedule ? { pattern: schedule.pattern, tz: 'UTC' } : { every: schedule.everyMs };
    const bound = this.redis.commandTimeoutMs;
    const upserting = this.#queue(name).upsertJobScheduler(schedulerId, repeat, {
      name,
      data,
      opts: { attempts: 1, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED },
    });
    upserting.catch(() => undefined);
    await withRedisErrors(() => withTimeout(upserting, bound, () => new StoreUnavailableError('redis', `upsert schedule: no answer within ${bound} ms`)));
  }

  /** The job schedulers of a queue. @throws StoreUnavailableError */
  async schedules(queue: QueueDefinition<object>): Promise<JobScheduleInfo[]> {
    const list = await withRedisErrors(() => this.#queue(queue.name).getJobSchedulers());
    return list.map((s) => ({
      id: s.key,
      everyMs: s.every === undefined || s.every === null ? undefined : Number(s.every),
      pattern: s.pattern ?? undefined,
      next: s.next === undefined ? undefined : new Date(s.next),
    }));
  }

  /** Job counts per state (waiting, active, delayed, completed, failed …). @throws StoreUnavailableError */
  async counts(queue: QueueDefinition<object>): Promise<Record<string, number>> {
    return withRedisErrors(() => this.#queue(queue.name).getJobCounts());
  }

  /** Registers the durable scan that re-creates `name`'s jobs (supplied by the knowledge/erasure flows). */
  registerReconciler<T extends object>(queue: QueueDefinition<T>, reconciler: JobReconciler<T>): void {
    this.#reconcilers.set(queue.name, reconciler);
  }

  /**
   * Runs the registered reconcilers (all, or one queue's), enqueueing with the
   * default retry options. Safe any time: ids are deterministic.
   * @returns how many enqueue calls each reconciler made, by queue name.
   */
  async reconcile(only?: QueueDefinition<object>): Promise<Record<string, number>> {
    const result: Record<string, number> = {};
    for (const [queue, reconciler] of this.#reconcilers) {
      if (only !== undefined && queue !== only.name) continue;
      let count = 0;
      await reconciler(async (data, jobId) => {
        await this.enqueue({ name: queue }, data, { jobId });
        count++;
      });
      result[queue] = count;
    }
    return result;
  }

  /** Closes workers (waiting for active jobs), queues and the queue connection. Idempotent. */
  async close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#workers].map((w) => w.close()));
      await Promise.allSettled([...this.#queues.values()].map((q) => q.close()));
      const connection = this.#connection;
      this.#connection = undefined;
      if (connection) await connection.quit().catch(() => connection.disconnect());
    })();
    return this.#closing;
  }
}
