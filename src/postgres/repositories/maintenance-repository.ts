import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { parseInput } from '../../parse-input.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { PostgresConnection } from '../postgres-connection.js';
import { MAINTENANCE_SCOPE, withScope } from '../with-scope.js';
import { withPostgresErrors } from '../map-postgres-error.js';

/**
 * The row sweeps of scheduled maintenance, each a bounded DELETE of rows
 * whose end (the earlier of revocation/consumption/answer and expiry) lies
 * more than `olderThanDays` in the past:
 * - `sessions` — ended sessions (revoked or expired), and at once (whatever `olderThanDays`) unconfirmed sessions
 *   past their confirmation window — sign-ins whose answer never reached the caller (sql/0116) — except those
 *   whose Redis revocation is still queued (sql/0065); their refresh tokens go with them (ON DELETE CASCADE);
 * - `refresh-token-families` — every token of a family none of whose tokens is usable;
 * - `rotated-refresh-tokens` — rotated tokens of live families (reuse of one
 *   that old is then refused as unknown, without revoking the family);
 * - `verification-tokens`, `mfa-challenges` — consumed or expired;
 * - `integration-tokens` — expired (never refreshed);
 * - `invitations` — answered or expired;
 * - `voice-cache` — expired entries (`olderThanDays` ignored: expiry is the TTL itself);
 * - `maintenance-runs` — this table's own history.
 */
export const MAINTENANCE_SWEEPS = [
  'sessions',
  'refresh-token-families',
  'rotated-refresh-tokens',
  'verification-tokens',
  'mfa-challenges',
  'integration-tokens',
  'invitations',
  'voice-cache',
  'maintenance-runs',
] as const;
export type MaintenanceSweep = (typeof MAINTENANCE_SWEEPS)[number];

/** One recorded run of a maintenance job. */
export interface MaintenanceRunRecord {
  readonly id: string;
  readonly job: string;
  readonly runner: string;
  readonly status: 'running' | 'succeeded' | 'failed' | 'skipped';
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  readonly rowsAffected: number;
  readonly batches: number;
  readonly error: string | null;
}

/** What one bounded sweep statement removed. */
export interface SweepBatchResult {
  readonly deleted: number;
  /** `voice-cache` only: storage URIs of the removed entries (the application deletes the audio). */
  readonly storageUris: readonly string[];
}

const runRow = z
  .object({
    id: z.union([z.string(), z.number()]),
    job: z.string(),
    runner: z.string(),
    status: z.enum(['running', 'succeeded', 'failed', 'skipped']),
    started_at: z.date(),
    finished_at: z.date().nullable(),
    rows_affected: z.number(),
    batches: z.number(),
    error: z.string().nullable(),
  })
  .transform((r): MaintenanceRunRecord => ({
    id: String(r.id),
    job: r.job,
    runner: r.runner,
    status: r.status,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    rowsAffected: r.rows_affected,
    batches: r.batches,
    error: r.error,
  }));
const RUN_COLUMNS = sql.fragment`id, job, runner, status, started_at, finished_at, rows_affected, batches, error`;

const jobName = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, "-"');
const runnerName = z.string().min(1).max(200);
const sweepInput = z.object({
  sweep: z.enum(MAINTENANCE_SWEEPS),
  olderThanDays: z.number().int().min(0).max(36_500),
  limit: z.number().int().min(1).max(100_000),
});
const deletedRow = z.object({ id: z.string() });
const voiceRow = z.object({ storage_uri: z.string() });

// Advisory-lock class of maintenance jobs (the second key is hashtext(job)); any fixed 32-bit constant unused elsewhere.
const LOCK_CLASS = 0x6d61_696e;

/** Deletes at most `limit` rows of `table` that are `expired`, locked without waiting (SKIP LOCKED); answers their ids. */
function batchOf(table: string, expired: ReturnType<typeof sql.fragment>, limit: number) {
  const t = sql.identifier([table]);
  return sql.fragment`DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} WHERE ${expired} LIMIT ${limit} FOR UPDATE SKIP LOCKED) RETURNING id::text`;
}

/** The bounded statement of one sweep: ids of at most `limit` victims, locked without waiting (SKIP LOCKED). */
function victims(sweep: MaintenanceSweep, cutoff: ReturnType<typeof sql.fragment>, limit: number) {
  switch (sweep) {
    case 'sessions':
      return sql.fragment`DELETE FROM sessions WHERE id IN (
        SELECT s.id FROM sessions s
        WHERE (least(s.revoked_at, s.expires_at) < ${cutoff} OR (s.confirmed_at IS NULL AND s.expires_at <= now()))
          AND NOT EXISTS (SELECT 1 FROM session_cache_revocations q WHERE q.session_id = s.id)
        LIMIT ${limit} FOR UPDATE OF s SKIP LOCKED) RETURNING id::text`;
    case 'refresh-token-families':
      return sql.fragment`DELETE FROM refresh_tokens WHERE id IN (
        SELECT t.id FROM refresh_tokens t
        WHERE least(t.revoked_at, t.expires_at) < ${cutoff}
          AND NOT EXISTS (SELECT 1 FROM refresh_tokens o WHERE o.family_id = t.family_id
                          AND least(o.revoked_at, o.expires_at) >= ${cutoff})
        LIMIT ${limit} FOR UPDATE OF t SKIP LOCKED) RETURNING id::text`;
    case 'rotated-refresh-tokens':
      return batchOf('refresh_tokens', sql.fragment`rotated_at < ${cutoff}`, limit);
    case 'verification-tokens':
      return batchOf('verification_tokens', sql.fragment`least(consumed_at, expires_at) < ${cutoff}`, limit);
    case 'mfa-challenges':
      return batchOf('mfa_challenges', sql.fragment`least(consumed_at, expires_at) < ${cutoff}`, limit);
    case 'integration-tokens':
      return batchOf('integration_tokens', sql.fragment`expires_at < ${cutoff}`, limit);
    case 'invitations':
      return batchOf('membership_invitations', sql.fragment`least(answered_at, expires_at) < ${cutoff}`, limit);
    case 'voice-cache':
      return sql.fragment`DELETE FROM voice_cache_entries WHERE id IN (
        SELECT id FROM voice_cache_entries WHERE expires_at <= now()
        ORDER BY expires_at LIMIT ${limit} FOR UPDATE SKIP LOCKED) RETURNING storage_uri`;
    case 'maintenance-runs':
      return batchOf('maintenance_runs', sql.fragment`finished_at < ${cutoff}`, limit);
  }
}

/**
 * Storage side of scheduled maintenance (the `Maintenance` flow decides what
 * runs when): bounded sweep statements, the per-job advisory lock, and the
 * `maintenance_runs` record (sql/0085). Everything runs on the application
 * pool in admin scope (actor `maintenance`), each statement in its own short
 * transaction, so no sweep holds row locks longer than one batch.
 */
@injectable()
@accessControlled
export class MaintenanceRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Deletes at most `limit` rows of one sweep (see {@link MAINTENANCE_SWEEPS}); rows another
   * transaction holds are skipped, not waited for.
   * @throws ValidationError naming `sweep`, `olderThanDays` or `limit`
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async sweepBatch(sweep: MaintenanceSweep, olderThanDays: number, limit: number): Promise<SweepBatchResult> {
    const input = parseInput(sweepInput, { sweep, olderThanDays, limit });
    const cutoff = sql.fragment`now() - make_interval(days => ${input.olderThanDays})`;
    const statement = victims(input.sweep, cutoff, input.limit);
    return withScope(this.postgres.appPool, MAINTENANCE_SCOPE, async (tx) => {
      if (input.sweep === 'voice-cache') {
        const uris = await tx.anyFirst(sql.type(voiceRow)`${statement}`);
        return { deleted: uris.length, storageUris: uris };
      }
      const ids = await tx.anyFirst(sql.type(deletedRow)`${statement}`);
      return { deleted: ids.length, storageUris: [] };
    });
  }

  /**
   * Runs `work` while this process holds the job's advisory lock (session-level, on a
   * connection of its own, so a crashed runner's lock ends with its connection).
   * @returns `{ acquired: false }` at once when another runner holds it
   * @throws ValidationError naming `job`; whatever `work` throws (the lock is released first)
   */
  @declareAccess({ systemJob: 'maintenance runner' })
  async withJobLock<T>(job: string, work: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }> {
    const name = parseInput(jobName, job, 'job');
    return withPostgresErrors(() =>
      this.postgres.appPool.connect(async (connection) => {
        const locked = await connection.oneFirst(sql.type(z.object({ locked: z.boolean() }))`
          SELECT pg_try_advisory_lock(${LOCK_CLASS}::int, hashtext(${name})) AS locked`);
        if (!locked) return { acquired: false as const };
        try {
          return { acquired: true as const, value: await work() };
        } finally {
          await connection.query(sql.type(z.object({ unlocked: z.boolean() }))`
            SELECT pg_advisory_unlock(${LOCK_CLASS}::int, hashtext(${name})) AS unlocked`);
        }
      }),
    );
  }

  /**
   * Records the start of a run — unless a run of `job` succeeded at or after `passStartedAt`
   * (a concurrent runner did this pass's work); then records a `skipped` run.
   * Call it holding the job's lock ({@link withJobLock}).
   * @returns the run's id, or `undefined` when skipped
   * @throws ValidationError naming `job` or `runner`
   */
  @declareAccess({ systemJob: 'maintenance runner' })
  async recordStart(job: string, runner: string, passStartedAt: Date): Promise<string | undefined> {
    const input = parseInput(z.object({ job: jobName, runner: runnerName, passStartedAt: z.date() }), { job, runner, passStartedAt });
    return withScope(this.postgres.appPool, MAINTENANCE_SCOPE, async (tx) => {
      const done = await tx.maybeOneFirst(sql.type(z.object({ done: z.boolean() }))`
        SELECT true AS done FROM maintenance_runs
        WHERE job = ${input.job} AND status = 'succeeded' AND started_at >= ${sql.timestamp(input.passStartedAt)} LIMIT 1`);
      if (done) {
        await this.#insertSkipped(tx, input.job, input.runner, 'already run by a concurrent runner in this pass');
        return undefined;
      }
      return String(
        await tx.oneFirst(sql.type(z.object({ id: z.union([z.string(), z.number()]) }))`
          INSERT INTO maintenance_runs (job, runner, status) VALUES (${input.job}, ${input.runner}, 'running') RETURNING id`),
      );
    });
  }

  /**
   * Records a run skipped because another runner held the job's lock.
   * @throws ValidationError naming `job` or `runner`
   */
  @declareAccess({ systemJob: 'maintenance runner' })
  async recordSkipped(job: string, runner: string): Promise<void> {
    const input = parseInput(z.object({ job: jobName, runner: runnerName }), { job, runner });
    await withScope(this.postgres.appPool, MAINTENANCE_SCOPE, (tx) => this.#insertSkipped(tx, input.job, input.runner, 'another runner held the job'));
  }

  async #insertSkipped(tx: DatabaseTransactionConnection, job: string, runner: string, why: string): Promise<void> {
    await tx.query(sql.type(z.object({}))`
      INSERT INTO maintenance_runs (job, runner, status, finished_at, error) VALUES (${job}, ${runner}, 'skipped', now(), ${why})`);
  }

  /**
   * Records the end of a run.
   * @throws ValidationError naming `id`, `rowsAffected`, `batches` or `error`
   */
  @declareAccess({ systemJob: 'maintenance runner' })
  async recordFinish(id: string, result: { status: 'succeeded' | 'failed'; rowsAffected: number; batches: number; error?: string }): Promise<void> {
    const input = parseInput(
      z.object({
        id: z.string().regex(/^[0-9]{1,19}$/),
        status: z.enum(['succeeded', 'failed']),
        rowsAffected: z.number().int().min(0),
        batches: z.number().int().min(0),
        error: z.string().max(2000).optional(),
      }),
      { id, ...result },
    );
    await withScope(this.postgres.appPool, MAINTENANCE_SCOPE, (tx) =>
      tx.query(sql.type(z.object({}))`
        UPDATE maintenance_runs SET status = ${input.status}, finished_at = now(), rows_affected = ${input.rowsAffected},
          batches = ${input.batches}, error = ${input.error ?? null}
        WHERE id = ${input.id}::bigint`),
    );
  }

  /** The latest run of each job that ran or failed (skips aside), by job name. */
  @declareAccess({ systemJob: 'maintenance status for the operator (health, CLI)' })
  async lastRuns(): Promise<readonly MaintenanceRunRecord[]> {
    return withScope(this.postgres.appPool, MAINTENANCE_SCOPE, (tx) =>
      tx.any(sql.type(runRow)`
        SELECT DISTINCT ON (job) ${RUN_COLUMNS} FROM maintenance_runs
        WHERE status <> 'skipped'
        ORDER BY job, started_at DESC, id DESC`),
    );
  }

  /**
   * Every recorded run of `job`, newest first (at most `limit`).
   * @throws ValidationError naming `job` or `limit`
   */
  @declareAccess({ systemJob: 'maintenance status for the operator (health, CLI)' })
  async runsOf(job: string, limit = 20): Promise<readonly MaintenanceRunRecord[]> {
    const input = parseInput(z.object({ job: jobName, limit: z.number().int().min(1).max(1000) }), { job, limit });
    return withScope(this.postgres.appPool, MAINTENANCE_SCOPE, (tx) =>
      tx.any(sql.type(runRow)`
        SELECT ${RUN_COLUMNS} FROM maintenance_runs WHERE job = ${input.job}
        ORDER BY started_at DESC, id DESC LIMIT ${input.limit}`),
    );
  }
}
