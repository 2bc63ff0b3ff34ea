import { sql, type CommonQueryMethods } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { parseInput } from '../../parse-input.js';
import { PostgresConnection } from '../postgres-connection.js';
import { noRows } from './no-rows.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** A session revocation Redis has not confirmed yet. */
export interface CacheRevocation {
  readonly id: number;
  readonly userId: string;
  readonly sessionId: string;
  readonly accessTokenJti: string;
  /** When the session would have expired: how long the Redis marker must live. */
  readonly expiresAt: Date;
}

export type CacheRevocationInput = Omit<CacheRevocation, 'id'>;

const row = z
  .object({
    id: z.number(),
    user_id: z.uuid(),
    session_id: z.uuid(),
    access_token_jti: z.string(),
    session_expires_at: z.date(),
  })
  .transform((r): CacheRevocation => ({
    id: r.id,
    userId: r.user_id,
    sessionId: r.session_id,
    accessTokenJti: r.access_token_jti,
    expiresAt: r.session_expires_at,
  }));

const idsInput = z.array(z.number().int().positive()).max(10_000);
const revocationInput = z.object({ userId: z.uuid(), sessionId: z.uuid(), accessTokenJti: z.string().min(1).max(200), expiresAt: z.date() });
/** Built once: parsed in every sign-in that revokes a session. */
const revocationsInput = z.array(revocationInput).max(10_000);

/**
 * The outbox of session revocations not yet applied to Redis (migration 0065).
 * A revoking transaction queues its row with {@link queueWithin}; the session
 * flow deletes it with {@link complete} once Redis took the revocation, and
 * replays {@link pending} rows before the session cache's breaker lets Redis
 * answer validations again. Owner pool: a pre-tenant auth path, like
 * `SessionRepository.revoke`; callers authorise first.
 */
@injectable()
@accessControlled
export class SessionCacheRevocationRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Queues revocations inside the caller's transaction, so they commit with the revocation they mirror.
   * @returns the queued rows
   */
  @declareAccess({ preTenant: 'session lifecycle: inside the revoking transaction' })
  async queueWithin(tx: CommonQueryMethods, revocations: readonly CacheRevocationInput[]): Promise<readonly CacheRevocation[]> {
    const d = parseInput(revocationsInput, revocations);
    if (d.length === 0) return [];
    return tx.any(sql.type(row)`
      INSERT INTO session_cache_revocations (user_id, session_id, access_token_jti, session_expires_at)
      SELECT * FROM ${sql.unnest(
        d.map((r) => [r.userId, r.sessionId, r.accessTokenJti, r.expiresAt.toISOString()]),
        ['uuid', 'uuid', 'text', 'timestamptz'],
      )}
      RETURNING id, user_id, session_id, access_token_jti, session_expires_at`);
  }

  /**
   * Queues revocations on their own (a revocation whose Postgres half committed earlier and whose Redis half just failed).
   * @throws ValidationError; StoreUnavailableError
   */
  @declareAccess({ preTenant: 'session lifecycle: the Redis half of a revocation already committed' })
  async queue(revocations: readonly CacheRevocationInput[]): Promise<readonly CacheRevocation[]> {
    return withPostgresErrors(() => this.postgres.appPool.transaction((tx) => this.queueWithin(tx, revocations)));
  }

  /**
   * The oldest queued revocations.
   * @throws ValidationError naming `limit`; StoreUnavailableError
   */
  @declareAccess({ systemJob: 'replay of the revocations Redis did not take' })
  async pending(limit = 500): Promise<readonly CacheRevocation[]> {
    const n = parseInput(z.number().int().min(1).max(10_000), limit);
    return withPostgresErrors(() =>
      this.postgres.appPool.any(sql.type(row)`
        SELECT id, user_id, session_id, access_token_jti, session_expires_at
        FROM session_cache_revocations ORDER BY id LIMIT ${n}`),
    );
  }

  /**
   * Whether a revocation has waited longer than `ms`: its Redis half failed
   * (in the normal path the row lives for one Redis round trip), so Redis may
   * still accept that session in any process until the replay.
   * @throws ValidationError naming `ms`; StoreUnavailableError
   */
  @declareAccess({ systemJob: 'replay of the revocations Redis did not take' })
  async hasPendingOlderThan(ms: number): Promise<boolean> {
    const d = parseInput(z.number().int().min(0).max(86_400_000), ms, 'ms');
    return withPostgresErrors(() =>
      this.postgres.appPool.exists(sql.type(z.object({ one: z.number() }))`
        SELECT 1 AS one FROM session_cache_revocations WHERE created_at < now() - make_interval(secs => ${d / 1000})`),
    );
  }

  /**
   * Deletes revocations Redis has taken.
   * @throws ValidationError; StoreUnavailableError
   */
  @declareAccess({ systemJob: 'replay of the revocations Redis did not take' })
  async complete(ids: readonly number[]): Promise<void> {
    const d = parseInput(idsInput, ids);
    if (d.length === 0) return;
    await withPostgresErrors(() =>
      this.postgres.appPool.query(sql.type(noRows)`DELETE FROM session_cache_revocations WHERE id = ANY(${sql.array(d, 'int8')})`),
    );
  }
}
