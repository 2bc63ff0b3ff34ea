import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { PlatformError, ValidationError } from '../../errors.js';
import { CONFIG } from '../../tokens.js';
import { withRedisErrors } from '../map-redis-error.js';
import { RedisConnection } from '../redis-connection.js';
import { RedisKeys } from '../redis-keys.js';
import { SessionCacheBreaker } from './session-cache-breaker.js';
import { runScript } from '../scripts/redis-script.js';
import {
  PUT_SESSION,
  REVOKE_ALL_SESSIONS,
  REVOKE_SESSION,
  SessionPutResult,
  SessionValidateReply,
  VALIDATE_SESSION,
  missEpoch,
} from '../scripts/session-scripts.js';
import { cachedSessionCodec, cachedSessionSchema, type CachedSession, type CachedSessionInput } from './cached-session-codec.js';

export { cachedSessionSchema } from './cached-session-codec.js';
export type { CachedSession, CachedSessionInput } from './cached-session-codec.js';

/** Which session to validate: the user (from the token's subject) and a session id and/or an access-token jti. */
export type SessionRef =
  | { readonly userId: string; readonly sessionId: string; readonly jti?: string }
  | { readonly userId: string; readonly sessionId?: undefined; readonly jti: string };

export type RevokedReason = 'revoked' | 'epoch' | 'denylisted' | 'expired';

export type SessionValidation =
  | { readonly status: 'hit'; readonly session: CachedSession }
  /**
   * `epoch`: the user's revocation epoch, read by the same script that found the miss — what
   * `readEpoch` would answer at that moment, so a loader can pass it to `put` as `revocationEpoch`
   * without another round trip. Absent when the miss was decided on this side (a record of another
   * shape or another user): call `readEpoch` then.
   */
  | { readonly status: 'miss'; readonly epoch?: number }
  | { readonly status: 'revoked'; readonly reason: RevokedReason };

export type SessionPutOutcome = 'stored' | 'revoked' | 'stale';

const REASONS: Record<number, RevokedReason> = {
  [SessionValidateReply.RevokedMarker]: 'revoked',
  [SessionValidateReply.RevokedEpoch]: 'epoch',
  [SessionValidateReply.Denylisted]: 'denylisted',
  [SessionValidateReply.Expired]: 'expired',
};

/**
 * The session cache in front of Postgres.
 *
 * **Contract (Postgres is the source of truth; read this before writing a flow):**
 * - `validate` answers in one round trip: `hit` (use it), `revoked` (reject),
 *   or `miss` — and a miss means "Redis does not know", never "valid": the
 *   caller must read the session row from Postgres (which has `revoked_at`
 *   and `expires_at`) and, if it is live, `put` it. That is why a FLUSHALL,
 *   an eviction or a restart can only slow requests down, never accept a
 *   revoked session: every revocation is written to Postgres first.
 * - Repopulating: pass the epoch a `miss` carries (or, when it has none, call
 *   `readEpoch(userId)` **before** reading Postgres) as `revocationEpoch`. A `revokeAllForUser` that lands between
 *   the Postgres read and the `put` advances the epoch, so the stale record is
 *   refused (`stale`) or, if written, answered `revoked`.
 * - Revoking: update Postgres first, then call `revokeSession` /
 *   `revokeAllForUser`. Once these return, no `validate` returns `hit` for the
 *   session: the record is replaced by a revocation marker that a racing `put`
 *   cannot overwrite (`revoked`), and the jti is denylisted.
 * - The epoch is `max(previous + 1, server time ms)`, so it stays monotonic
 *   when its key expires or is flushed; record TTLs are capped at
 *   `SESSION_TTL_SECONDS`, the epoch key's TTL, so no record outlives the
 *   epoch that may invalidate it.
 *
 * - Every call goes through the {@link SessionCacheBreaker}: while it is open,
 *   `validate`, `readEpoch` and `put` fail at once with StoreUnavailableError
 *   (validate against Postgres), and before it closes the revocations Redis
 *   missed are replayed.
 *
 * Residual window, accepted: a revocation marker lost (flush/eviction) in the
 * milliseconds between a concurrent loader's Postgres read and its `put`
 * could re-cache that session until its record TTL; flows bound this by
 * re-reading Postgres when they see `revoked_at` elsewhere (refresh, admin).
 */
@injectable()
export class SessionCache {
  constructor(
    @inject(RedisConnection) private readonly redis: RedisConnection,
    @inject(RedisKeys) private readonly keys: RedisKeys,
    @inject(CONFIG) private readonly config: Config,
    @inject(SessionCacheBreaker) private readonly breaker: SessionCacheBreaker,
  ) {}

  get #maxSessionMs(): number {
    return this.config.auth.sessionTtlSeconds * 1000;
  }

  /**
   * One round trip: denylist → record (by session id, or via the jti pointer) → expiry → epoch.
   * The hit is decoded by {@link cachedSessionCodec} (header, then `cachedSessionSchema`).
   * @throws StoreUnavailableError when Redis is down (callers may fall back to Postgres).
   */
  async validate(ref: SessionRef): Promise<SessionValidation> {
    const jti = ref.jti;
    const byJti = ref.sessionId === undefined;
    const reply = await this.breaker.read(() =>
      runScript(
        this.redis.client,
        VALIDATE_SESSION,
        [
          this.keys.sessionEpoch(ref.userId),
          ref.sessionId === undefined ? this.keys.sessionAccessToken(ref.userId, ref.jti) : this.keys.sessionRecord(ref.userId, ref.sessionId),
          this.keys.sessionDenylist(ref.userId, jti ?? '-'),
        ],
        [byJti ? 'jti' : 'sid', jti === undefined ? '0' : '1', this.keys.sessionRecordPrefix(ref.userId)],
      ),
    );
    if (typeof reply === 'number') {
      if (reply < 0) return { status: 'miss', epoch: missEpoch(reply) };
      if (reply === SessionValidateReply.Miss) return { status: 'miss' };
      // An unknown positive code can only mean "revoked" from a newer script: never a hit.
      return { status: 'revoked', reason: REASONS[reply] ?? 'revoked' };
    }
    if (typeof reply !== 'string') throw new PlatformError('REDIS_UNEXPECTED_REPLY', `${VALIDATE_SESSION.name} answered ${typeof reply}`);
    // A record that no longer has the expected shape (older release, corruption) is a miss: Postgres decides.
    const session = cachedSessionCodec.decode(reply);
    if (session === undefined || session.userId !== ref.userId) return { status: 'miss' };
    if (ref.sessionId !== undefined && session.sessionId !== ref.sessionId) return { status: 'miss' };
    return { status: 'hit', session };
  }

  /** The user's current revocation epoch (0 when unknown). Read it before reading the session from Postgres. */
  async readEpoch(userId: string): Promise<number> {
    const value = await this.breaker.read(() => withRedisErrors(() => this.redis.client.get(this.keys.sessionEpoch(userId))));
    return value === null ? 0 : Number(value);
  }

  /**
   * Write-through / repopulation. TTL = remaining session life, capped at
   * `SESSION_TTL_SECONDS`. With `accessToken`, also indexes the jti so
   * `validate({ userId, jti })` finds the session.
   *
   * @returns `stored`; `revoked` when a revocation marker is in place; `stale` when the epoch moved past `record.revocationEpoch`.
   * @throws ValidationError for a malformed record; StoreUnavailableError.
   */
  async put(record: CachedSessionInput, accessToken?: { readonly jti: string; readonly expiresAt: number }): Promise<SessionPutOutcome> {
    const parsed = cachedSessionSchema.safeParse(record);
    if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    const session = parsed.data;
    const now = Date.now();
    const ttlMs = Math.min(Math.floor(session.expiresAt - now), this.#maxSessionMs);
    if (ttlMs <= 0) return 'stale';
    const pointerTtlMs = accessToken ? Math.max(0, Math.min(Math.floor(accessToken.expiresAt - now), ttlMs)) : 0;
    const reply = await this.breaker.read(() =>
      runScript(
        this.redis.client,
        PUT_SESSION,
        [
          this.keys.sessionEpoch(session.userId),
          this.keys.sessionRecord(session.userId, session.sessionId),
          this.keys.sessionIndex(session.userId),
          this.keys.sessionAccessToken(session.userId, accessToken?.jti ?? '-'),
        ],
        [cachedSessionCodec.encode(session), ttlMs, session.revocationEpoch, session.sessionId, pointerTtlMs],
      ),
    );
    return reply === SessionPutResult.Stored ? 'stored' : reply === SessionPutResult.Revoked ? 'revoked' : 'stale';
  }

  /**
   * Revokes one session in Redis (call after Postgres `revoked_at` is set):
   * the record becomes a revocation marker for the rest of the session's life
   * and the access token's jti is denylisted for the rest of its life.
   * @throws StoreUnavailableError
   */
  async revokeSession(input: {
    readonly userId: string;
    readonly sessionId: string;
    /** When the session would have expired (default: now + SESSION_TTL_SECONDS). */
    readonly sessionExpiresAt?: number;
    readonly accessToken?: { readonly jti: string; readonly expiresAt: number };
  }): Promise<void> {
    const now = Date.now();
    const markerTtlMs = clamp((input.sessionExpiresAt ?? now + this.#maxSessionMs) - now, 1_000, this.#maxSessionMs);
    const denyTtlMs = input.accessToken ? Math.max(0, Math.ceil(input.accessToken.expiresAt - now)) : 0;
    await this.breaker.revoke(() =>
      runScript(
        this.redis.client,
        REVOKE_SESSION,
        [
          this.keys.sessionRecord(input.userId, input.sessionId),
          this.keys.sessionIndex(input.userId),
          this.keys.sessionDenylist(input.userId, input.accessToken?.jti ?? '-'),
          this.keys.sessionAccessToken(input.userId, input.accessToken?.jti ?? '-'),
        ],
        [markerTtlMs, denyTtlMs, input.sessionId, revocationMarker(input.sessionId), input.accessToken ? '1' : '0'],
      ),
    );
  }

  /**
   * Invalidates every cached session of the user at once (call after Postgres
   * revoked them): advances the epoch and marks every indexed record revoked.
   * @returns the new epoch.
   * @throws StoreUnavailableError
   */
  async revokeAllForUser(userId: string): Promise<number> {
    const reply = await this.breaker.revoke(() =>
      runScript(
        this.redis.client,
        REVOKE_ALL_SESSIONS,
        [this.keys.sessionEpoch(userId), this.keys.sessionIndex(userId)],
        [this.#maxSessionMs, this.keys.sessionRecordPrefix(userId), revocationMarker(null)],
      ),
    );
    return z.tuple([z.number(), z.number()]).parse(reply)[0];
  }
}

function revocationMarker(sessionId: string | null): string {
  return JSON.stringify({ revoked: true, sessionId });
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(Math.ceil(value), min), max);
}
