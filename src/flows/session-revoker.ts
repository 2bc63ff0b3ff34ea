import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { parseInput } from '../parse-input.js';
import { SessionRepository, type RevokedSession } from '../postgres/repositories/session-repository.js';
import { SessionCache } from '../redis/session-cache.js';
import { LOGGER } from '../tokens.js';
import { accessControlled, declareAccess } from '../tenancy/declare-access.js';

const reasonInput = z.string().trim().min(1).max(200);

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
 * Redis failing after the Postgres write is retried once and then thrown: the
 * session is revoked at the source, but a still-cached record could answer
 * `hit` until its TTL, so the caller must learn the revoke is incomplete and
 * retry (the methods are idempotent).
 */
@injectable()
@accessControlled
export class SessionRevoker {
  constructor(
    @inject(SessionRepository) private readonly sessions: SessionRepository,
    @inject(SessionCache) private readonly cache: SessionCache,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Revokes one session (logout, admin revoke). Idempotent: revoking an
   * already revoked session re-applies the Redis half.
   * @returns false when no such session exists
   * @throws ValidationError naming `sessionId` / `reason`; StoreUnavailableError when Redis stays down (Postgres is already revoked)
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeSession(sessionId: string, reason: string): Promise<boolean> {
    const d = parseInput(z.object({ sessionId: z.uuid(), reason: reasonInput }), { sessionId, reason });
    const revoked: RevokedSession | undefined = (await this.sessions.revoke(d.sessionId, d.reason)) ?? (await this.sessions.get(d.sessionId));
    if (!revoked) return false;
    await this.evictSession(revoked);
    return true;
  }

  /**
   * Revokes every session of a user in every organization (logout everywhere, suspension, password reset).
   * @returns how many sessions this call revoked in Postgres
   * @throws ValidationError naming `userId` / `reason`; StoreUnavailableError when Redis stays down
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeAllForUser(userId: string, reason: string): Promise<number> {
    const d = parseInput(z.object({ userId: z.uuid(), reason: reasonInput }), { userId, reason });
    const revoked = await this.sessions.revokeAllForUser(d.userId, d.reason);
    // The epoch covers every record of the user, cached or cached later from a stale read.
    await this.#twice('revokeAllForUser', () => this.cache.revokeAllForUser(d.userId));
    return revoked.length;
  }

  /**
   * The Redis half for a session already revoked in Postgres (e.g. by refresh-token reuse detection).
   * @throws StoreUnavailableError when Redis stays down
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async evictSession(session: Pick<RevokedSession, 'id' | 'userId' | 'accessTokenJti' | 'expiresAt'>): Promise<void> {
    const expiresAt = session.expiresAt.getTime();
    await this.#twice('revokeSession', () =>
      this.cache.revokeSession({
        userId: session.userId,
        sessionId: session.id,
        sessionExpiresAt: expiresAt,
        // The access token carries the session's jti and lives as long as the session.
        accessToken: { jti: session.accessTokenJti, expiresAt },
      }),
    );
  }

  async #twice<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      this.logger.warn('session revocation in Redis failed; retrying once', { operation: what, error });
      return work();
    }
  }
}
