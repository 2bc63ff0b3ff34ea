import type { PostgresTransaction } from '../../postgres/postgres-transaction.js';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import type { AuditEventInput } from '../../postgres/repositories/audit-repository.js';
import { SessionCacheRevocationRepository, type CacheRevocationInput } from '../../postgres/repositories/session-cache-revocation-repository.js';
import { SessionRepository, type RevokedSession } from '../../postgres/repositories/session-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { SessionCache } from '../../redis/repositories/session-cache.js';
import { SessionCacheBreaker } from '../../redis/repositories/session-cache-breaker.js';
import type { Config } from '../../config.js';
import type { Lifecycle } from '../../lifecycle.js';
import { CONFIG, LIFECYCLE, LOGGER } from '../../tokens.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

const reasonInput = z.string().trim().min(1).max(200);

/**
 * `auth.session.revoked`, one per session, written in the revoking transaction
 * (logout, logout everywhere, suspension, password change or reset, erasure): a
 * revocation that committed always has its event. The subject is `details.userId`
 * (pseudonymised on erasure); the actor is not known at this layer.
 */
function sessionRevoked(session: RevokedSession, reason: string): AuditEventInput {
  return {
    eventType: 'auth.session.revoked',
    organizationId: session.organizationId,
    riskScore: 0,
    details: { sessionId: session.id, userId: session.userId, reason },
  };
}

/** How many queued revocations one replay round reads. */
const REPLAY_BATCH = 500;

/** A session to evict from Redis; `cacheRevocationId` when its revocation was queued in the revoking transaction. */
/** What {@link SessionRevoker.revokeAllForUserWithin} returns: how many sessions the transaction revoked, and their Redis half. */
export interface RevocationWithin {
  readonly revoked: number;
  /** Applies the Redis half; call it once the transaction has committed. */
  evict(): Promise<void>;
}

export type SessionToEvict = Pick<RevokedSession, 'id' | 'userId' | 'accessTokenJti' | 'expiresAt'> & { readonly cacheRevocationId?: number };

/**
 * Revocation in the one order that cannot leave a revoked session valid:
 * **Postgres first** (`revoked_at`, the source of truth that every cache miss
 * consults), **then Redis** (revocation marker + jti denylist for one session,
 * epoch advance for all of a user's). Whatever interleaves with it, a
 * validation that starts after a revoke method returned is answered either by
 * Redis, which already says revoked, or by Postgres, which already says
 * revoked — and a repopulation that read Postgres before the revoke is refused
 * by the marker / epoch (see `SessionCache.put`).
 *
 * Each revoked session gets an `auth.session.revoked` audit event in the revoking transaction.
 *
 * **Redis down does not fail a revocation.** The revoking transaction also
 * queues the Redis half in `session_cache_revocations` (migration 0065); the
 * row is deleted once Redis took it. When Redis does not take it (down,
 * frozen, breaker open), the method still answers success — Postgres has
 * committed — and tells the {@link SessionCacheBreaker}, which keeps Redis out
 * of validation until {@link replayPending} has applied every queued row
 * (installed as the breaker's replay by this class). So no cached record
 * accepts the session afterwards, even when Redis returns with its old data.
 * Other processes learn of such a revocation from PostgreSQL: each process
 * checks about once a second for a queued row older than a Redis command
 * timeout + 1 s and then opens its own breaker, so its next read replays the
 * queue before trusting Redis. Residual window: a partition shorter than that
 * age + one check interval may let another process's Redis `hit` accept the
 * session until the check runs (docs/reliability.md).
 */
@injectable()
@accessControlled
export class SessionRevoker {
  constructor(
    @inject(SessionRepository) private readonly sessions: SessionRepository,
    @inject(SessionCacheRevocationRepository) private readonly queued: SessionCacheRevocationRepository,
    @inject(SessionCache) private readonly cache: SessionCache,
    @inject(SessionCacheBreaker) private readonly breaker: SessionCacheBreaker,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(CONFIG) config: Config,
    @inject(LIFECYCLE) lifecycle: Lifecycle,
  ) {
    breaker.setReplay(() => this.replayPending());
    // Another process's revocation that Redis did not take is only in PostgreSQL: this process's breaker must
    // hear of it too, or a Redis that comes back with its old data would answer `hit` here (the multi-process
    // partition case of issue 16). One indexed EXISTS per interval; a row older than a Redis command timeout
    // plus a second is one whose Redis half failed.
    const staleMs = config.redis.commandTimeoutMs + 1_000;
    const timer = setInterval(() => void this.#watchPending(staleMs), Math.min(1_000, Math.max(250, config.redis.breakerCooldownMs)));
    timer.unref();
    lifecycle.onStop('session-revoker', async () => clearInterval(timer));
  }

  async #watchPending(staleMs: number): Promise<void> {
    const pending = await this.queued.hasPendingOlderThan(staleMs).catch(() => false);
    // Opens the breaker: the next read probes Redis and replays every queued revocation before Redis answers again.
    if (pending && this.breaker.state === 'closed') this.breaker.revocationPending();
  }

  /**
   * Ends one session (the caller's own).
   * Answers once PostgreSQL committed, also while Redis is down: the Redis half is replayed before Redis answers validations again.
   * @returns false when no such session exists
   * @throws ValidationError naming `sessionId`; StoreUnavailableError when PostgreSQL is unavailable
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async logout(sessionId: string): Promise<boolean> {
    return this.revokeSession(sessionId, 'logout');
  }

  /**
   * Ends every session of the user in every organization.
   * @returns how many sessions were revoked
   * @throws ValidationError naming `userId`; StoreUnavailableError when PostgreSQL is unavailable
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async logoutEverywhere(userId: string): Promise<number> {
    return this.revokeAllForUser(userId, 'logout_everywhere');
  }

  /**
   * Suspends an account: the status and its `auth.user.suspended` event in one
   * transaction (so no new sign-in succeeds — a sign-in racing this re-checks
   * the status in its own transaction), then every session revoked (PostgreSQL,
   * then Redis), each with its `auth.session.revoked` event. Callers authorise the admin first.
   * @returns the number of sessions revoked
   * @throws ValidationError naming `userId` / `reason`; NotFoundError for an unknown user; StoreUnavailableError
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async suspendUser(userId: string, reason: string, actor?: { userId?: string; organizationId?: string }): Promise<number> {
    const d = parseInput(z.object({ userId: z.uuid(), reason: z.string().trim().min(1).max(180) }).strict(), { userId, reason });
    const user = await this.users.setStatus(d.userId, 'suspended', {
      events: [
        {
          eventType: 'auth.user.suspended',
          organizationId: actor?.organizationId ?? null,
          actorUserId: actor?.userId ?? null,
          riskScore: 50,
          details: { targetUserId: d.userId, reason: d.reason },
        },
      ],
    });
    return this.revokeAllForUser(user.id, `suspended: ${d.reason}`);
  }

  /**
   * Revokes every active session of the user except `keepSessionId` (password change: the caller's session stays).
   * @returns how many sessions this call revoked
   * @throws ValidationError naming `userId` / `keepSessionId` / `reason`; StoreUnavailableError when PostgreSQL is unavailable
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeOtherSessions(userId: string, keepSessionId: string, reason: string): Promise<number> {
    const d = parseInput(z.object({ userId: z.uuid(), keepSessionId: z.uuid(), reason: reasonInput }), { userId, keepSessionId, reason });
    let revoked = 0;
    let after: string | undefined;
    do {
      const page = await this.sessions.listActiveForUser(d.userId, { limit: 100, ...(after === undefined ? {} : { cursor: after }) });
      const others = page.items.filter((s) => s.id !== d.keepSessionId);
      const results = await Promise.all(others.map((s) => this.revokeSession(s.id, d.reason)));
      revoked += results.filter(Boolean).length;
      after = page.nextCursor;
    } while (after !== undefined);
    return revoked;
  }

  /**
   * Revokes one session (logout, admin revoke). Idempotent: revoking an
   * already revoked session re-applies the Redis half.
   * @returns false when no such session exists
   * @throws ValidationError naming `sessionId` / `reason`; StoreUnavailableError when PostgreSQL is unavailable (never for Redis)
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeSession(sessionId: string, reason: string): Promise<boolean> {
    const d = parseInput(z.object({ sessionId: z.uuid(), reason: reasonInput }), { sessionId, reason });
    const revoked: SessionToEvict | undefined =
      (await this.sessions.revoke(d.sessionId, d.reason, { events: (sessions) => sessions.map((s) => sessionRevoked(s, d.reason)) })) ??
      (await this.sessions.get(d.sessionId));
    if (!revoked) return false;
    await this.evictSession(revoked);
    return true;
  }

  /**
   * Revokes every session of a user in every organization (logout everywhere, suspension, password reset).
   * @returns how many sessions this call revoked in Postgres
   * @throws ValidationError naming `userId` / `reason`; StoreUnavailableError when PostgreSQL is unavailable
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeAllForUser(userId: string, reason: string): Promise<number> {
    const d = parseInput(z.object({ userId: z.uuid(), reason: reasonInput }), { userId, reason });
    const revoked = await this.sessions.revokeAllForUser(d.userId, d.reason, { events: (sessions) => sessions.map((s) => sessionRevoked(s, d.reason)) });
    await this.#evictAllOf(d.userId, revoked);
    return revoked.length;
  }

  /**
   * The PostgreSQL half of {@link revokeAllForUser} — or, with `keepSessionId`, of {@link revokeOtherSessions} —
   * in the caller's transaction `tx` (the user's scope: `AccountRepository.changePassword`'s `within`), so the
   * sessions a password change or reset ends are revoked, with their `auth.session.revoked` events, exactly when
   * the password changes. Run the returned `evict` once `tx` has committed: it applies the Redis half. Until it
   * has (or if the process dies first), the rows the transaction queued in `session_cache_revocations` stand for
   * it and are replayed before Redis answers again.
   * @throws ValidationError naming `userId` / `reason` / `keepSessionId`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeAllForUserWithin(
    tx: PostgresTransaction,
    userId: string,
    reason: string,
    options: { readonly keepSessionId?: string } = {},
  ): Promise<RevocationWithin> {
    const d = parseInput(z.object({ userId: z.uuid(), reason: reasonInput }), { userId, reason });
    const revoked = await this.sessions.revokeAllForUserWithin(tx, d.userId, d.reason, {
      ...options,
      events: (sessions) => sessions.map((s) => sessionRevoked(s, d.reason)),
    });
    return {
      revoked: revoked.length,
      // All of the user's sessions: the epoch; all but one: each session by itself, as revokeOtherSessions does.
      evict: () =>
        options.keepSessionId === undefined ? this.#evictAllOf(d.userId, revoked) : Promise.all(revoked.map((r) => this.evictSession(r))).then(() => undefined),
    };
  }

  /** The Redis half of revoking every session of a user. */
  async #evictAllOf(userId: string, revoked: readonly RevokedSession[]): Promise<void> {
    // The epoch covers every record of the user, cached or cached later from a stale read; the queued
    // per-session rows are what a replay applies if Redis does not take it.
    await this.#applyOrQueue(
      () => this.cache.revokeAllForUser(userId),
      revoked.map((s) => s.cacheRevocationId),
      [],
    );
  }

  /**
   * The Redis half for a session already revoked in Postgres (e.g. by refresh-token reuse detection);
   * queued for replay when Redis does not take it (unless `cacheRevocationId` says it is queued already).
   * @throws StoreUnavailableError only when Redis failed and PostgreSQL could not queue the replay either
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async evictSession(session: SessionToEvict): Promise<void> {
    const revocation = { userId: session.userId, sessionId: session.id, accessTokenJti: session.accessTokenJti, expiresAt: session.expiresAt };
    await this.#applyOrQueue(
      () => this.#apply(revocation),
      session.cacheRevocationId === undefined ? [] : [session.cacheRevocationId],
      session.cacheRevocationId === undefined ? [revocation] : [],
    );
  }

  /**
   * Applies every queued revocation to Redis, oldest first, and deletes the
   * rows. The session-cache breaker runs this before Redis answers again.
   * @throws StoreUnavailableError when Redis or PostgreSQL fails (rows stay queued)
   */
  @declareAccess({ systemJob: 'the session-cache breaker, before Redis answers again' })
  async replayPending(): Promise<void> {
    for (;;) {
      const batch = await this.queued.pending(REPLAY_BATCH);
      if (batch.length === 0) return;
      for (const revocation of batch) await this.#apply(revocation);
      await this.queued.complete(batch.map((r) => r.id));
      this.logger.info('session revocations replayed into Redis', { count: batch.length });
      if (batch.length < REPLAY_BATCH) return;
    }
  }

  /** Runs the Redis half; on success deletes the queued rows, on failure queues `unqueued` and holds Redis back until the replay. */
  async #applyOrQueue(work: () => Promise<unknown>, queuedIds: readonly number[], unqueued: readonly CacheRevocationInput[]): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.warn('session revocation not applied to Redis; queued for replay before Redis answers again', { error });
      if (unqueued.length > 0) await this.queued.queue(unqueued);
      this.breaker.revocationPending();
      return;
    }
    // A row left behind is replayed once more later: harmless.
    await this.queued.complete(queuedIds).catch((error: unknown) => this.logger.warn('queued session revocations not deleted', { error }));
  }

  async #apply(revocation: CacheRevocationInput): Promise<void> {
    const expiresAt = revocation.expiresAt.getTime();
    // The access token carries the session's jti and lives as long as the session.
    await this.cache.revokeSession({
      userId: revocation.userId,
      sessionId: revocation.sessionId,
      sessionExpiresAt: expiresAt,
      accessToken: { jti: revocation.accessTokenJti, expiresAt },
    });
  }
}
