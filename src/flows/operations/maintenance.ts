import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { inject, injectable } from 'tsyringe';
import type { MaintenanceOptions } from '../../maintenance-options.js';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AuditRepository } from '../../postgres/repositories/audit-repository.js';
import {
  MAINTENANCE_SWEEPS,
  MaintenanceRepository,
  type MaintenanceRunRecord,
  type MaintenanceSweep,
} from '../../postgres/repositories/maintenance-repository.js';
import { JobQueues, type WorkerHandle } from '../../redis/job-queues.js';
import { MAINTENANCE_QUEUE } from './maintenance-queue.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { CONFIG, LOGGER, MAINTENANCE_OPTIONS } from '../../tokens.js';

/** Every maintenance job, in the order a pass runs them. */
export const MAINTENANCE_JOBS = ['audit-partitions', 'audit-retention', ...MAINTENANCE_SWEEPS] as const;
export type MaintenanceJob = (typeof MAINTENANCE_JOBS)[number];

/** The outcome of one job in one pass. */
export interface MaintenanceJobResult {
  readonly job: MaintenanceJob;
  /** `skipped`: another runner held the job, or already ran it since this pass began. */
  readonly status: 'succeeded' | 'failed' | 'skipped';
  readonly rowsAffected: number;
  readonly batches: number;
  readonly ms: number;
  readonly error?: string;
}

const SCHEDULER_ID = 'maintenance';

const jobsInput = z.array(z.enum(MAINTENANCE_JOBS)).min(1).max(MAINTENANCE_JOBS.length).optional();

/**
 * Scheduled maintenance: the retention and purge jobs of every store table
 * that would otherwise grow without bound (audit partitions ahead and past
 * retention, ended sessions and refresh-token families, rotated refresh
 * tokens, used or expired verification tokens, MFA challenges and
 * invitations, expired integration tokens and voice cache, its own history).
 *
 * Each job is idempotent and bounded: rows go in DELETE statements of at most
 * `batchSize` rows, each its own short transaction, at most `maxBatchesPerJob`
 * per run. Concurrent runners (several workers, a manual `maintenance run`)
 * are safe: a job runs under a PostgreSQL advisory lock, and a runner that
 * gets the lock after another runner finished the job in the same pass skips
 * it, so each job runs once per pass. Every run is a `maintenance_runs` row.
 *
 * `startWorker` keeps one BullMQ job scheduler (id `maintenance`) whatever the
 * number of workers, and processes its jobs; `run` does a pass at once.
 * MongoDB analytics expire by their TTL index (bootstrap), not here.
 */
@injectable()
@accessControlled
export class Maintenance {
  readonly #runner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly #options: MaintenanceOptions;

  constructor(
    @inject(MaintenanceRepository) private readonly repository: MaintenanceRepository,
    @inject(AuditRepository) private readonly audit: AuditRepository,
    @inject(JobQueues) private readonly queues: JobQueues,
    @inject(CONFIG) config: Config,
    @inject(MAINTENANCE_OPTIONS) options: Partial<MaintenanceOptions>,
    @inject(LOGGER) private readonly logger: Logger,
  ) {
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.#options = Object.freeze({ ...config.maintenance, auditRetentionDays: config.retention.auditDays, ...defined });
  }

  /** The options in force (config merged with `createPlatform(…, { maintenance })`). */
  @declareAccess({ systemJob: 'maintenance status for the operator (health, CLI)' })
  options(): MaintenanceOptions {
    return this.#options;
  }

  /**
   * Runs one pass: the given jobs (default all), in {@link MAINTENANCE_JOBS} order. A failed
   * job is recorded and reported; the others still run.
   * @throws ValidationError naming `jobs`
   */
  @declareAccess({ systemJob: 'maintenance runner (worker schedule or `platform-data maintenance run`)' })
  async run(jobs?: readonly MaintenanceJob[]): Promise<readonly MaintenanceJobResult[]> {
    // Taken before anything awaits: two runners called together both start their pass before either runs a job.
    const passStartedAt = new Date();
    const selected = parseInput(jobsInput, jobs, 'jobs') ?? MAINTENANCE_JOBS;
    const results: MaintenanceJobResult[] = [];
    for (const job of MAINTENANCE_JOBS) {
      if (selected.includes(job)) results.push(await this.#runJob(job, passStartedAt));
    }
    return results;
  }

  async #runJob(job: MaintenanceJob, passStartedAt: Date): Promise<MaintenanceJobResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const skipped = (): MaintenanceJobResult => ({ job, status: 'skipped', rowsAffected: 0, batches: 0, ms: elapsed() });
    const locked = await this.repository.withJobLock(job, async (): Promise<MaintenanceJobResult> => {
      const runId = await this.repository.recordStart(job, this.#runner, passStartedAt);
      if (runId === undefined) return skipped();
      const progress = { rows: 0, batches: 0 };
      try {
        await this.#execute(job, progress);
        await this.repository.recordFinish(runId, { status: 'succeeded', rowsAffected: progress.rows, batches: progress.batches });
        return { job, status: 'succeeded', rowsAffected: progress.rows, batches: progress.batches, ms: elapsed() };
      } catch (error) {
        const message = describe(error);
        this.logger.warn('maintenance job failed; it runs again next time', { job, error });
        await this.repository.recordFinish(runId, { status: 'failed', rowsAffected: progress.rows, batches: progress.batches, error: message });
        return { job, status: 'failed', rowsAffected: progress.rows, batches: progress.batches, ms: elapsed(), error: message };
      }
    });
    if (locked.acquired) return locked.value;
    await this.repository.recordSkipped(job, this.#runner);
    return skipped();
  }

  async #execute(job: MaintenanceJob, progress: { rows: number; batches: number }): Promise<void> {
    const o = this.#options;
    if (job === 'audit-partitions') {
      progress.rows = await this.audit.ensurePartitions(o.auditMonthsAhead);
      progress.batches = 1;
      return;
    }
    if (job === 'audit-retention') {
      progress.rows = (await this.audit.dropPartitionsOlderThan(o.auditRetentionDays)).length;
      progress.batches = 1;
      return;
    }
    const days = this.#daysOf(job);
    while (progress.batches < o.maxBatchesPerJob) {
      const batch = await this.repository.sweepBatch(job, days, o.batchSize);
      progress.batches++;
      progress.rows += batch.deleted;
      if (batch.storageUris.length > 0) await this.#removeVoiceAudio(batch.storageUris);
      if (batch.deleted < o.batchSize) return;
    }
    this.logger.info('maintenance job reached its batch limit; the rest waits for the next run', { job, batches: progress.batches });
  }

  #daysOf(sweep: MaintenanceSweep): number {
    const o = this.#options;
    switch (sweep) {
      case 'sessions':
      case 'refresh-token-families':
        return o.endedSessionDays;
      case 'rotated-refresh-tokens':
        return o.rotatedRefreshTokenDays;
      case 'verification-tokens':
      case 'mfa-challenges':
        return o.verificationTokenDays;
      case 'integration-tokens':
        return o.integrationTokenDays;
      case 'invitations':
        return o.invitationDays;
      case 'voice-cache':
        return 0;
      case 'maintenance-runs':
        return o.historyDays;
    }
  }

  async #removeVoiceAudio(uris: readonly string[]): Promise<void> {
    if (this.#options.removeVoiceAudio) await this.#options.removeVoiceAudio(uris);
    else this.logger.warn('expired voice-cache rows deleted; their audio stays (set maintenance.removeVoiceAudio)', { count: uris.length });
  }

  /** The latest run of each job (skips aside), for `health` and `maintenance status`. */
  @declareAccess({ systemJob: 'maintenance status for the operator (health, CLI)' })
  async lastRuns(): Promise<readonly MaintenanceRunRecord[]> {
    return this.repository.lastRuns();
  }

  /**
   * Creates or updates the BullMQ job scheduler (every `everySeconds`, or `cron`); idempotent,
   * one scheduler however many workers call it.
   * @throws StoreUnavailableError
   */
  @declareAccess({ systemJob: 'maintenance scheduler of `platform-data worker`' })
  async ensureSchedule(): Promise<void> {
    const o = this.#options;
    await this.queues.upsertSchedule(MAINTENANCE_QUEUE, SCHEDULER_ID, o.cron ? { pattern: o.cron } : { everyMs: o.everySeconds * 1000 }, {});
  }

  /**
   * Ensures the schedule and starts a worker for its jobs; a scheduled job runs one pass
   * and fails (BullMQ keeps it in the failed list) when a maintenance job failed.
   * @throws StoreUnavailableError
   */
  @declareAccess({ systemJob: 'maintenance scheduler of `platform-data worker`' })
  async startWorker(): Promise<WorkerHandle> {
    await this.ensureSchedule();
    return this.queues.startWorker(MAINTENANCE_QUEUE, async (job) => {
      const jobs = job.data.jobs?.filter((j): j is MaintenanceJob => (MAINTENANCE_JOBS as readonly string[]).includes(j));
      const results = await this.run(jobs && jobs.length > 0 ? jobs : undefined);
      const failed = results.filter((r) => r.status === 'failed');
      this.logger.info('maintenance pass', { results });
      if (failed.length > 0) throw new PlatformError('MAINTENANCE_FAILED', `maintenance jobs failed: ${failed.map((f) => `${f.job} (${f.error})`).join('; ')}`);
    });
  }
}

function describe(error: unknown): string {
  if (error instanceof PlatformError) return `${error.code}: ${error.message}`.slice(0, 2000);
  return (error instanceof Error ? error.message : String(error)).slice(0, 2000);
}
