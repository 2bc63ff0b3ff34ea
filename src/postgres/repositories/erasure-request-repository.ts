import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { PostgresConnection } from '../postgres-connection.js';
import { scopedPool } from '../with-scope.js';
import { noRows } from './no-rows.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export const ERASURE_SUBJECT_TYPES = ['user', 'organization'] as const;
export type ErasureSubjectType = (typeof ERASURE_SUBJECT_TYPES)[number];
export const ERASURE_REQUEST_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;
export type ErasureRequestStatus = (typeof ERASURE_REQUEST_STATUSES)[number];
export const ERASURE_STEP_STATUSES = ['pending', 'running', 'done', 'failed'] as const;
export type ErasureStepStatus = (typeof ERASURE_STEP_STATUSES)[number];

export interface ErasureStepRecord {
  readonly step: string;
  readonly ordinal: number;
  readonly status: ErasureStepStatus;
  readonly attempts: number;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly lastError: string | null;
  /** While `running`: when the holder's lease ends unless its heartbeat renews it (then any worker may take the step over). */
  readonly leaseExpiresAt: Date | null;
  /** Counts of what the step removed; never personal data. */
  readonly result: Readonly<Record<string, unknown>>;
}

export interface ErasureRequestRecord {
  readonly id: string;
  readonly subjectType: ErasureSubjectType;
  readonly subjectId: string;
  readonly reason: string;
  readonly requestedBy: string;
  readonly status: ErasureRequestStatus;
  readonly requestedAt: Date;
  readonly finishedAt: Date | null;
  readonly lastError: string | null;
  /** In execution order. */
  readonly steps: readonly ErasureStepRecord[];
}

const requestRow = z.object({
  id: z.uuid(),
  subject_type: z.enum(ERASURE_SUBJECT_TYPES),
  subject_id: z.uuid(),
  reason: z.string(),
  requested_by: z.string(),
  status: z.enum(ERASURE_REQUEST_STATUSES),
  requested_at: z.date(),
  finished_at: z.date().nullable(),
  last_error: z.string().nullable(),
});
const stepRow = z
  .object({
    request_id: z.uuid(),
    step: z.string(),
    ordinal: z.number(),
    status: z.enum(ERASURE_STEP_STATUSES),
    attempts: z.number(),
    started_at: z.date().nullable(),
    finished_at: z.date().nullable(),
    last_error: z.string().nullable(),
    result: z.record(z.string(), z.unknown()),
    lease_expires_at: z.date().nullable(),
  })
  .transform((r) => ({
    requestId: r.request_id,
    step: {
      step: r.step,
      ordinal: r.ordinal,
      status: r.status,
      attempts: r.attempts,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      lastError: r.last_error,
      result: r.result,
      leaseExpiresAt: r.lease_expires_at,
    } satisfies ErasureStepRecord,
  }));

const REQUEST_COLUMNS = sql.fragment`id, subject_type, subject_id, reason, requested_by, status, requested_at, finished_at, last_error`;
const STEP_COLUMNS = sql.fragment`request_id, step, ordinal, status, attempts, started_at, finished_at, last_error, result, lease_expires_at`;

/** Who runs a step and for how long without a heartbeat. */
export interface StepLease {
  /** A random id of the worker process. */
  readonly owner: string;
  readonly ms: number;
}

/** What {@link ErasureRequestRepository.startStep} did: the step is now ours (attempt n), was done, or another worker holds a live lease. */
export type StepClaim = { readonly kind: 'claimed'; readonly attempt: number } | { readonly kind: 'done' } | { readonly kind: 'leased' };

const leaseInput = z.object({ owner: z.string().min(1).max(100), ms: z.number().int().min(100).max(3_600_000) });

const STEP_NAME = z.string().regex(/^[a-z][a-z_]{0,39}$/, 'must be lowercase letters and "_"');
const openInput = z
  .object({
    subjectType: z.enum(ERASURE_SUBJECT_TYPES),
    subjectId: z.uuid(),
    reason: z.string().trim().min(1).max(500),
    steps: z.array(STEP_NAME).min(1).max(20),
  })
  .strict();
export type OpenErasureRequestInput = z.input<typeof openInput>;

// Errors are stored for operators; bound them so a huge driver message cannot fail the UPDATE itself.
function clip(message: string): string {
  return message.length > 2000 ? `${message.slice(0, 1997)}...` : message;
}

/**
 * Erasure requests and their steps (`erasure_requests`, `erasure_steps`):
 * the durable record that drives, resumes and proves a GDPR erasure or an
 * organization deletion. Owner pool only — privileged maintenance, every
 * method takes an {@link AdminScope} (its actor is stored as `requested_by`).
 */
@injectable()
@accessControlled
export class ErasureRequestRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Records a request with its steps (all `pending`), or returns the subject's
   * open request: idempotent per subject while one is open (the partial unique
   * index decides races).
   * @returns the request and whether this call created it
   * @throws ValidationError naming the invalid field; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async open(scope: AdminScope, input: OpenErasureRequestInput): Promise<{ request: ErasureRequestRecord; created: boolean }> {
    assertAdminScope(scope);
    const d = parseInput(openInput, input);
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).transaction(async (tx) => {
        const inserted = await tx.maybeOneFirst(sql.type(z.object({ id: z.uuid() }))`
          INSERT INTO erasure_requests (subject_type, subject_id, reason, requested_by)
          VALUES (${d.subjectType}, ${d.subjectId}, ${d.reason}, ${scope.actor})
          ON CONFLICT (subject_type, subject_id) WHERE status IN ('pending', 'running', 'failed') DO NOTHING
          RETURNING id`);
        if (inserted !== null) {
          await tx.query(sql.type(noRows)`
            INSERT INTO erasure_steps (request_id, step, ordinal)
            SELECT ${inserted}, s.step, s.ordinal - 1 FROM unnest(${sql.array(d.steps, 'text')}) WITH ORDINALITY AS s(step, ordinal)`);
          return { request: await this.#load(tx, inserted), created: true };
        }
        const open = await tx.oneFirst(sql.type(z.object({ id: z.uuid() }))`
          SELECT id FROM erasure_requests
          WHERE subject_type = ${d.subjectType} AND subject_id = ${d.subjectId} AND status IN ('pending', 'running', 'failed')`);
        return { request: await this.#load(tx, open), created: false };
      }),
    );
  }

  async #load(tx: Pick<DatabaseTransactionConnection, 'maybeOne' | 'any'>, id: string): Promise<ErasureRequestRecord> {
    const request = await tx.maybeOne(sql.type(requestRow)`SELECT ${REQUEST_COLUMNS} FROM erasure_requests WHERE id = ${id}`);
    if (!request) throw new NotFoundError('erasure request', id);
    const steps = await tx.any(sql.type(stepRow)`SELECT ${STEP_COLUMNS} FROM erasure_steps WHERE request_id = ${id} ORDER BY ordinal`);
    return toRecord(
      request,
      steps.map((s) => s.step),
    );
  }

  /** @throws ValidationError naming `id`; NotFoundError; TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async get(scope: AdminScope, id: string): Promise<ErasureRequestRecord> {
    assertAdminScope(scope);
    const requestId = parseInput(uuidInput, id, 'id');
    return withPostgresErrors(() => this.#load(scopedPool(this.postgres.appPool, { adminActor: scope.actor }), requestId));
  }

  /**
   * The newest request about a subject (open or finished), or `undefined`.
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async latestForSubject(scope: AdminScope, subjectType: ErasureSubjectType, subjectId: string): Promise<ErasureRequestRecord | undefined> {
    assertAdminScope(scope);
    const d = parseInput(z.object({ subjectType: z.enum(ERASURE_SUBJECT_TYPES), subjectId: z.uuid() }), { subjectType, subjectId });
    return withPostgresErrors(async () => {
      const id = await scopedPool(this.postgres.appPool, { adminActor: scope.actor }).maybeOneFirst(sql.type(z.object({ id: z.uuid() }))`
        SELECT id FROM erasure_requests WHERE subject_type = ${d.subjectType} AND subject_id = ${d.subjectId}
        ORDER BY requested_at DESC, id DESC LIMIT 1`);
      return id === null ? undefined : this.#load(scopedPool(this.postgres.appPool, { adminActor: scope.actor }), id);
    });
  }

  /**
   * Requests not completed yet (pending, running or failed), oldest first:
   * what the reconciler resumes.
   * @throws TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async listOpen(scope: AdminScope, limit = 500): Promise<readonly ErasureRequestRecord[]> {
    assertAdminScope(scope);
    const n = parseInput(z.number().int().min(1).max(10_000), limit, 'limit');
    return withPostgresErrors(async () => {
      const requests = await scopedPool(this.postgres.appPool, { adminActor: scope.actor }).any(sql.type(requestRow)`
        SELECT ${REQUEST_COLUMNS} FROM erasure_requests WHERE status <> 'completed' ORDER BY requested_at, id LIMIT ${n}`);
      if (requests.length === 0) return [];
      const steps = await scopedPool(this.postgres.appPool, { adminActor: scope.actor }).any(sql.type(stepRow)`
        SELECT ${STEP_COLUMNS} FROM erasure_steps WHERE request_id = ANY(${sql.array(
          requests.map((r) => r.id),
          'uuid',
        )}) ORDER BY request_id, ordinal`);
      const byRequest = Map.groupBy(steps, (s) => s.requestId);
      return requests.map((r) =>
        toRecord(
          r,
          (byRequest.get(r.id) ?? []).map((s) => s.step),
        ),
      );
    });
  }

  /**
   * Claims a step: marks it running under `lease` and counts the attempt (the
   * request becomes `running`) — unless it is done, or `running` under another
   * owner's lease that has not expired.
   * @throws NotFoundError for an unknown request or step; ValidationError
   */
  @declareAccess({ adminScope: true })
  async startStep(scope: AdminScope, requestId: string, step: string, lease: StepLease): Promise<StepClaim> {
    assertAdminScope(scope);
    const d = parseInput(z.object({ requestId: z.uuid(), step: STEP_NAME, lease: leaseInput }), { requestId, step, lease });
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).transaction(async (tx): Promise<StepClaim> => {
        const current = await tx.maybeOne(sql.type(z.object({ status: z.enum(ERASURE_STEP_STATUSES), leased: z.boolean() }))`
          SELECT status, (status = 'running' AND lease_owner <> ${d.lease.owner} AND lease_expires_at > now()) AS leased
          FROM erasure_steps WHERE request_id = ${d.requestId} AND step = ${d.step} FOR UPDATE`);
        if (current === null) throw new NotFoundError('erasure step', `${d.requestId}/${d.step}`);
        if (current.status === 'done') return { kind: 'done' };
        if (current.leased) return { kind: 'leased' };
        const attempt = await tx.oneFirst(sql.type(z.object({ attempts: z.number() }))`
          UPDATE erasure_steps SET status = 'running', attempts = attempts + 1, started_at = now(), last_error = NULL,
            lease_owner = ${d.lease.owner}, lease_expires_at = now() + make_interval(secs => ${d.lease.ms / 1000})
          WHERE request_id = ${d.requestId} AND step = ${d.step} RETURNING attempts`);
        await tx.query(sql.type(noRows)`
          UPDATE erasure_requests SET status = 'running', last_error = NULL WHERE id = ${d.requestId} AND status <> 'completed'`);
        return { kind: 'claimed', attempt };
      }),
    );
  }

  /**
   * The heartbeat: extends the lease while its owner still holds the running step.
   * @returns false when the step is no longer ours (done, failed, or taken over after the lease expired)
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async renewLease(scope: AdminScope, requestId: string, step: string, lease: StepLease): Promise<boolean> {
    assertAdminScope(scope);
    const d = parseInput(z.object({ requestId: z.uuid(), step: STEP_NAME, lease: leaseInput }), { requestId, step, lease });
    const row = await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).maybeOne(sql.type(z.object({ step: z.string() }))`
        UPDATE erasure_steps SET lease_expires_at = now() + make_interval(secs => ${d.lease.ms / 1000})
        WHERE request_id = ${d.requestId} AND step = ${d.step} AND status = 'running' AND lease_owner = ${d.lease.owner}
        RETURNING step`),
    );
    return row !== null;
  }

  /**
   * Records a step as done with what it removed (idempotent: a done step stays as first recorded).
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async finishStep(scope: AdminScope, requestId: string, step: string, result: Record<string, number | string | boolean> = {}): Promise<void> {
    assertAdminScope(scope);
    const d = parseInput(
      z.object({ requestId: z.uuid(), step: STEP_NAME, result: z.record(z.string(), z.union([z.number(), z.string().max(200), z.boolean()])) }),
      {
        requestId,
        step,
        result,
      },
    );
    await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).query(sql.type(noRows)`
        UPDATE erasure_steps SET status = 'done', finished_at = now(), last_error = NULL, result = ${sql.jsonb(d.result)},
          lease_owner = NULL, lease_expires_at = NULL
        WHERE request_id = ${d.requestId} AND step = ${d.step} AND status <> 'done'`),
    );
  }

  /**
   * Records a failed attempt. With `final` (no attempts left) the request
   * turns `failed`: still open, so the reconciler retries it later.
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async failStep(scope: AdminScope, requestId: string, step: string, error: string, final: boolean): Promise<void> {
    assertAdminScope(scope);
    const d = parseInput(z.object({ requestId: z.uuid(), step: STEP_NAME }), { requestId, step });
    const message = clip(error);
    await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).transaction(async (tx) => {
        await tx.query(sql.type(noRows)`
          UPDATE erasure_steps SET status = ${final ? 'failed' : 'pending'}, last_error = ${message}, lease_owner = NULL, lease_expires_at = NULL
          WHERE request_id = ${d.requestId} AND step = ${d.step} AND status <> 'done'`);
        await tx.query(sql.type(noRows)`
          UPDATE erasure_requests SET last_error = ${message} ${final ? sql.fragment`, status = 'failed'` : sql.fragment``}
          WHERE id = ${d.requestId} AND status <> 'completed'`);
      }),
    );
  }

  /**
   * Completes the request when every step is done.
   * @returns true when the request is completed (now or before)
   * @throws TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async completeIfDone(scope: AdminScope, requestId: string): Promise<boolean> {
    assertAdminScope(scope);
    const id = parseInput(uuidInput, requestId, 'requestId');
    return withPostgresErrors(async () => {
      const status = await scopedPool(this.postgres.appPool, { adminActor: scope.actor }).maybeOneFirst(sql.type(
        z.object({ status: z.enum(ERASURE_REQUEST_STATUSES) }),
      )`
        WITH done AS (
          UPDATE erasure_requests r SET status = 'completed', finished_at = now(), last_error = NULL
          WHERE r.id = ${id} AND r.status <> 'completed'
            AND NOT EXISTS (SELECT 1 FROM erasure_steps s WHERE s.request_id = r.id AND s.status <> 'done')
          RETURNING status)
        SELECT status FROM done
        UNION ALL
        SELECT status FROM erasure_requests WHERE id = ${id} AND status = 'completed'
        LIMIT 1`);
      return status === 'completed';
    });
  }
}

function toRecord(r: z.infer<typeof requestRow>, steps: readonly ErasureStepRecord[]): ErasureRequestRecord {
  return {
    id: r.id,
    subjectType: r.subject_type,
    subjectId: r.subject_id,
    reason: r.reason,
    requestedBy: r.requested_by,
    status: r.status,
    requestedAt: r.requested_at,
    finishedAt: r.finished_at,
    lastError: r.last_error,
    steps,
  };
}
