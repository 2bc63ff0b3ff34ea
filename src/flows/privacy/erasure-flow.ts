import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { DEFAULT_ERASURE_FLOW_OPTIONS, ERASURE_STEPS, type ErasureFlowOptions, type ErasureStep, type ErasureStepResult } from '../../erasure-flow-options.js';
import { z } from 'zod';
import { NotFoundError, PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { ErasureRequestRepository, type ErasureRequestRecord, type ErasureSubjectType } from '../../postgres/repositories/erasure-request-repository.js';
import { OrganizationRepository } from '../../postgres/repositories/organization-repository.js';
import { refuseSoleOwnership, SubjectDataRepository } from '../../postgres/repositories/subject-data-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { JobQueues, type JobContext, type WorkerHandle, type WorkerOptions } from '../../redis/job-queues.js';
import { ERASURE_QUEUE, type ErasureJobData } from './erasure-queue.js';
import { AdminScope } from '../../tenancy/admin-scope.js';
import type { Lifecycle } from '../../lifecycle.js';
import { ERASURE_FLOW_OPTIONS, LIFECYCLE, LOGGER } from '../../tokens.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { ErasureVerification, type ErasureRemainder } from './erasure-verification.js';
import { OrganizationErasureSteps } from './organization-erasure-steps.js';
import { UserErasureSteps } from './user-erasure-steps.js';

export interface EraseOptions {
  /** Why (stored on the request; must not contain personal data). */
  readonly reason: string;
  /** Who asked (operator, service); default `erasure`. */
  readonly requestedBy?: string;
}

const uuid = z.uuid();
const eraseInput = z.object({ reason: z.string().trim().min(1).max(500), requestedBy: z.string().trim().min(1).max(200).optional() }).strict();

function stepOf(value: string | undefined): ErasureStep | undefined {
  return ERASURE_STEPS.find((s) => s === value);
}

function jobIdOf(requestId: string, step: ErasureStep): string {
  return `${requestId}-${step}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * GDPR erasure of a user and deletion of an organization, across the four
 * stores, through the `erasure` queue.
 *
 * Durability: the request and one row per step are written to Postgres
 * before anything is deleted; each step is a job `<requestId>-<step>` that
 * records its outcome; the next step is enqueued only after the previous one
 * is recorded done. Every step is idempotent (deletes by subject), so running
 * one twice — a crash after its effects but before its bookkeeping, a stalled
 * job re-delivered — is harmless. A reconciler re-enqueues the first
 * unfinished step of every open request from Postgres, reviving dead-lettered
 * jobs, so a crash anywhere (process, Redis flush) resumes and finishes.
 *
 * What each step does is `UserErasureSteps` / `OrganizationErasureSteps`
 * (documented in docs/privacy.md); counting what remains is `ErasureVerification`.
 * Eleven dependencies, with a reason: this class is the orchestrator — the
 * request ledger, the subjects' existence and ownership checks, its three
 * parts, the queue, and its options, logger and lifecycle. About 390 lines, with
 * a reason: the worker, the sweep and the reconciler all drive the same private
 * step bookkeeping (`#runStep`, `#enqueueNext`, the lease), which is the
 * durability argument above; split apart, it would have to become public.
 */
@injectable()
@accessControlled
export class ErasureFlow {
  constructor(
    @inject(ErasureRequestRepository) private readonly requests: ErasureRequestRepository,
    @inject(SubjectDataRepository) private readonly subjects: SubjectDataRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(OrganizationRepository) private readonly organizations: OrganizationRepository,
    @inject(UserErasureSteps) private readonly userSteps: UserErasureSteps,
    @inject(OrganizationErasureSteps) private readonly organizationSteps: OrganizationErasureSteps,
    @inject(ErasureVerification) private readonly verification: ErasureVerification,
    @inject(JobQueues) private readonly queues: JobQueues,
    @inject(ERASURE_FLOW_OPTIONS) private readonly options: ErasureFlowOptions,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(LIFECYCLE) private readonly lifecycle: Lifecycle,
  ) {}

  #sweeper: ReturnType<typeof setInterval> | undefined;
  #sweeping = false;

  get #leaseMs(): number {
    return this.options.leaseMs ?? DEFAULT_ERASURE_FLOW_OPTIONS.leaseMs!;
  }

  #scope(reason: string, actor = 'erasure-worker'): AdminScope {
    return AdminScope.create({ actor, reason });
  }

  /**
   * Starts (or resumes) the erasure of a user: records the request, revokes
   * every session at once (Postgres, then Redis), then queues the per-store
   * steps. Idempotent per user while a request is open: a second call returns
   * the open request and re-queues its next step.
   *
   * Ownership: a user who is the ONLY owner of an organization is refused,
   * before anything is recorded — handing an organization to someone else is
   * a decision for a person (transfer ownership), and deleting it is
   * {@link deleteOrganization}; the erasure never does either silently.
   *
   * @returns the request (its steps show progress; use {@link waitFor} to block)
   * @throws ValidationError naming `userId` / `reason`; NotFoundError for a user never seen
   * @throws ConflictError `memberships_last_owner` naming the organizations the user alone owns
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's (GDPR erasure)" })
  async eraseUser(userId: string, options: EraseOptions): Promise<ErasureRequestRecord> {
    const id = parseInput(uuid, userId, 'userId');
    const o = parseInput(eraseInput, options);
    const scope = this.#scope(o.reason, o.requestedBy ?? 'erasure');
    const latest = await this.requests.latestForSubject(scope, 'user', id);
    if (latest && latest.status !== 'completed') return this.#resume(scope, latest);
    const user = await this.users.getById(id);
    if (!user) {
      if (latest) return latest;
      throw new NotFoundError('user', id);
    }
    refuseSoleOwnership(id, await this.subjects.soleOwnerships(scope, id));
    return this.#start(scope, 'user', id, o.reason);
  }

  /**
   * Deletes an organization and everything of it in the four stores: marks it
   * deleted and revokes its sessions at once, then queues the per-store steps.
   * Idempotent while a request is open. The members' user accounts stay.
   * @throws ValidationError; NotFoundError for an organization never seen
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's (organization deletion)" })
  async deleteOrganization(organizationId: string, options: EraseOptions): Promise<ErasureRequestRecord> {
    const id = parseInput(uuid, organizationId, 'organizationId');
    const o = parseInput(eraseInput, options);
    const scope = this.#scope(o.reason, o.requestedBy ?? 'organization-deletion');
    const latest = await this.requests.latestForSubject(scope, 'organization', id);
    if (latest && latest.status !== 'completed') return this.#resume(scope, latest);
    const organization = await this.organizations.getById(id);
    if (!organization) {
      if (latest) return latest;
      throw new NotFoundError('organization', id);
    }
    return this.#start(scope, 'organization', id, o.reason);
  }

  async #start(scope: AdminScope, subjectType: ErasureSubjectType, subjectId: string, reason: string): Promise<ErasureRequestRecord> {
    const { request } = await this.requests.open(scope, { subjectType, subjectId, reason, steps: [...ERASURE_STEPS] });
    // Sessions inline: the subject must be locked out now, not when a worker gets to it.
    // A failure here is not lost: the step stays pending and the queue/reconciler retries it.
    try {
      await this.#runStep(request, 'sessions');
    } catch (error) {
      this.logger.warn('erasure: inline session revocation failed; left to the queue', { requestId: request.id, error });
    }
    return this.#resume(scope, await this.requests.get(scope, request.id));
  }

  async #resume(scope: AdminScope, request: ErasureRequestRecord): Promise<ErasureRequestRecord> {
    await this.#enqueueNext(scope, request.id);
    return this.requests.get(scope, request.id);
  }

  /** Enqueues the first unfinished step, or completes the request when none is left. */
  async #enqueueNext(scope: AdminScope, requestId: string): Promise<void> {
    const request = await this.requests.get(scope, requestId);
    if (request.status === 'completed') return;
    const next = request.steps.find((s) => s.status !== 'done');
    const step = stepOf(next?.step);
    if (!next || !step) {
      await this.requests.completeIfDone(scope, requestId);
      return;
    }
    await this.queues.enqueue(
      ERASURE_QUEUE,
      { organizationId: request.subjectType === 'organization' ? request.subjectId : '', requestId, step },
      { jobId: jobIdOf(requestId, step), attempts: this.options.attempts, backoffMs: this.options.backoffMs },
    );
  }

  /**
   * Runs one step under a lease unless it is done or another worker holds it,
   * recording the attempt and the outcome. A heartbeat renews the lease while
   * the step runs; it stops at the first renewal that fails (the step may then
   * be taken over: every step is idempotent).
   * @returns `done` / `leased` when nothing ran, `ran` after the step was recorded done
   */
  async #runStep(request: ErasureRequestRecord, step: ErasureStep, final = false): Promise<'ran' | 'done' | 'leased'> {
    const scope = this.#scope(`erasure request ${request.id}`);
    // One owner per run, so a sweep and a queue delivery in the same process exclude each other too.
    const lease = { owner: randomUUID(), ms: this.#leaseMs };
    const claim = await this.requests.startStep(scope, request.id, step, lease);
    if (claim.kind !== 'claimed') return claim.kind;
    const attempt = claim.attempt;
    const heartbeat = setInterval(
      () => {
        void this.requests.renewLease(scope, request.id, step, lease).then(
          (held) => held || clearInterval(heartbeat),
          (error: unknown) => {
            clearInterval(heartbeat);
            this.logger.warn('erasure: lease heartbeat failed; the step may be taken over', { requestId: request.id, step, error });
          },
        );
      },
      Math.max(50, Math.floor(lease.ms / 3)),
    );
    heartbeat.unref();
    let result: ErasureStepResult;
    try {
      result = await this.#apply(scope, request, step);
      await this.options.onStep?.({ requestId: request.id, step, phase: 'applied' });
      await this.requests.finishStep(scope, request.id, step, result);
    } catch (error) {
      await this.requests
        .failStep(scope, request.id, step, errorText(error), final)
        .catch((e: unknown) => this.logger.error('erasure: cannot record failure', { error: e }));
      throw error;
    } finally {
      clearInterval(heartbeat);
    }
    this.logger.info('erasure step done', { requestId: request.id, subjectType: request.subjectType, step, attempt, result });
    await this.options.onStep?.({ requestId: request.id, step, phase: 'recorded' });
    return 'ran';
  }

  async #apply(scope: AdminScope, request: ErasureRequestRecord, step: ErasureStep): Promise<ErasureStepResult> {
    return request.subjectType === 'user' ? this.userSteps.apply(scope, request.subjectId, step) : this.organizationSteps.apply(scope, request.subjectId, step);
  }

  @declareAccess({ systemJob: 'queue worker or reconciler' })
  async process(job: JobContext<ErasureJobData>): Promise<void> {
    const scope = this.#scope(`erasure request ${job.data.requestId}`);
    const request = await this.requests.get(scope, job.data.requestId);
    if (request.status === 'completed') return;
    const first = request.steps.find((s) => s.status !== 'done');
    const wanted = stepOf(job.data.step) ?? stepOf(first?.step);
    // Steps run strictly in order: a job for a later step (a reconciler race) hands over to the first unfinished one.
    if (wanted !== undefined && first !== undefined && first.step === wanted) {
      // Another worker holds the step: it enqueues the next one when done (or loses the lease to a sweep).
      if ((await this.#runStep(request, wanted, job.attempt >= job.maxAttempts)) === 'leased') return;
    }
    await this.#enqueueNext(scope, request.id);
  }

  /**
   * Starts an `erasure` worker (closed by `Platform.stop()`), registers the
   * reconciler and starts the sweep: at once and every `sweepEveryMs`, every
   * open request whose current step nobody holds — `running` with an expired
   * lease (its worker was killed), or `pending`/`failed` for longer than a
   * lease (its job was lost, stalled or dead-lettered) — has that step run
   * here, then continues through the queue. So a restarted worker finishes
   * an interrupted erasure within about one lease + one sweep interval.
   * @throws StoreUnavailableError
   */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  async startWorker(options: WorkerOptions = {}): Promise<WorkerHandle> {
    this.#registerReconciler();
    const handle = await this.queues.startWorker(ERASURE_QUEUE, (job) => this.process(job), options);
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => void this.#sweepOnce(), this.options.sweepEveryMs ?? DEFAULT_ERASURE_FLOW_OPTIONS.sweepEveryMs!);
      this.#sweeper.unref();
      this.lifecycle.onStop('erasure sweep', async () => this.#stopSweeping());
      void this.#sweepOnce();
    }
    return {
      queue: handle.queue,
      close: async (force?: boolean) => {
        this.#stopSweeping();
        await handle.close(force);
      },
    };
  }

  /**
   * One sweep (see {@link startWorker}): runs the current step of every open request nobody holds.
   * @returns how many steps it ran
   * @throws StoreUnavailableError
   */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  async sweep(): Promise<number> {
    const scope = this.#scope('erasure sweep', 'erasure-sweeper');
    const now = Date.now();
    let ran = 0;
    for (const request of await this.requests.listOpen(scope)) {
      const index = request.steps.findIndex((s) => s.status !== 'done');
      const current = request.steps[index];
      const step = stepOf(current?.step);
      if (!current || !step) continue;
      if (current.status === 'running' && (current.leaseExpiresAt?.getTime() ?? 0) > now) continue;
      const lastActivity = Math.max(request.requestedAt.getTime(), current.startedAt?.getTime() ?? 0, request.steps[index - 1]?.finishedAt?.getTime() ?? 0);
      if (current.status !== 'running' && now - lastActivity < this.#leaseMs) continue;
      try {
        if ((await this.#runStep(request, step)) === 'ran') ran++;
        await this.#enqueueNext(scope, request.id);
      } catch (error) {
        this.logger.warn('erasure sweep: step failed; retried by the queue or the next sweep', { requestId: request.id, step, error });
      }
    }
    return ran;
  }

  async #sweepOnce(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      await this.sweep();
    } catch (error) {
      this.logger.warn('erasure sweep failed', { error });
    } finally {
      this.#sweeping = false;
    }
  }

  #stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #registerReconciler(): void {
    this.queues.registerReconciler(ERASURE_QUEUE, async (enqueue) => {
      const scope = this.#scope('erasure reconciler', 'erasure-reconciler');
      for (const request of await this.requests.listOpen(scope)) {
        const step = stepOf(request.steps.find((s) => s.status !== 'done')?.step);
        if (!step) {
          await this.requests.completeIfDone(scope, request.id);
          continue;
        }
        const jobId = jobIdOf(request.id, step);
        // A dead-lettered job keeps its id for 30 days, so enqueue alone would be a no-op: revive it instead.
        if ((await this.queues.retryFailed(ERASURE_QUEUE, [jobId])) > 0) continue;
        await enqueue({ organizationId: request.subjectType === 'organization' ? request.subjectId : '', requestId: request.id, step }, jobId);
      }
    });
  }

  /**
   * Re-enqueues the next step of every open request from Postgres (after a
   * crash, a Redis flush, or on a schedule). Safe any time.
   * @returns how many steps were (re-)enqueued
   */
  @declareAccess({ systemJob: 'queue worker or reconciler' })
  async reconcile(): Promise<number> {
    this.#registerReconciler();
    return (await this.queues.reconcile(ERASURE_QUEUE))[ERASURE_QUEUE.name] ?? 0;
  }

  /**
   * The request's current state.
   * @throws ValidationError; NotFoundError
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async status(requestId: string): Promise<ErasureRequestRecord> {
    return this.requests.get(this.#scope('erasure status'), parseInput(uuid, requestId, 'requestId'));
  }

  /**
   * Polls until the request is completed.
   * @throws PlatformError `ERASURE_TIMEOUT` naming the unfinished steps when `timeoutMs` passes
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async waitFor(requestId: string, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<ErasureRequestRecord> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const request = await this.status(requestId);
      if (request.status === 'completed') return request;
      if (Date.now() > deadline) {
        const open = request.steps
          .filter((s) => s.status !== 'done')
          .map((s) => `${s.step} (${s.status}, ${s.attempts} attempts${s.lastError ? `: ${s.lastError}` : ''})`);
        throw new PlatformError('ERASURE_TIMEOUT', `Erasure request ${requestId} not completed; open steps: ${open.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
    }
  }

  /**
   * Scans all four stores for anything still held about the user (`ErasureVerification.verifyErased`).
   * @returns remainders per store and kind; empty means erased
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async verifyErased(userId: string): Promise<ErasureRemainder[]> {
    return this.verification.verifyErased(userId);
  }

  /**
   * Scans all four stores for anything left of the organization (`ErasureVerification.verifyOrganizationDeleted`).
   * @returns remainders per store and kind; empty means deleted
   * @throws ValidationError naming `organizationId`
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async verifyOrganizationDeleted(organizationId: string): Promise<ErasureRemainder[]> {
    return this.verification.verifyOrganizationDeleted(organizationId);
  }
}
