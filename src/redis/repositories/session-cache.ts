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
import { PUT_SESSION, READ_SESSION_BY_JTI, REVOKE_ALL_SESSIONS, REVOKE_SESSION, SessionPutResult } from '../scripts/session-scripts.js';
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

/** What Redis holds for one validation, read atomically (one MGET, or `readSessionByJti`). */
interface SessionReads {
  /** The record (`s1|…`), a revocation marker (JSON), or null. */
  readonly raw: string | null;
  /** The user's revocation epoch as stored (null = 0). */
  readonly epoch: string | null;
  /** The jti is on the denylist. */
  readonly denied: boolean;
  /** A hit may be answered: no jti was given, or the jti's pointer names this session. */
  readonly tokenMatches: boolean;
}

const readsReply = z.tuple([z.string().nullable(), z.string().nullable(), z.string().nullable()]);

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
   * One round trip. By session id it is one `MGET` of the record, the user's
   * epoch and (with a jti) the jti's denylist entry and pointer — no Lua, so
   * Redis does about the work of a GET; by jti alone, `readSessionByJti`
   * follows the pointer in the same atomic step. The decision is made here:
   * denylist → record or revocation marker → expiry → epoch → shape
   * ({@link cachedSessionCodec}). With a jti, a hit also needs the jti's
   * pointer to name the session (the proof that the token belongs to it).
   * @throws StoreUnavailableError when Redis is down (callers may fall back to Postgres).
   */
  async validate(ref: SessionRef): Promise<SessionValidation> {
    const { userId, sessionId, jti } = ref;
    const epochKey = this.keys.sessionEpoch(userId);
    if (sessionId === undefined) {
      const reply = await this.breaker.read(() =>
        runScript(
          this.redis.client,
          READ_SESSION_BY_JTI,
          [epochKey, this.keys.sessionAccessToken(userId, ref.jti), this.keys.sessionDenylist(userId, ref.jti)],
          [this.keys.sessionRecordPrefix(userId)],
        ),
      );
      const parsed = readsReply.safeParse(reply);
      if (!parsed.success) throw new PlatformError('REDIS_UNEXPECTED_REPLY', `${READ_SESSION_BY_JTI.name} answered ${JSON.stringify(reply)?.slice(0, 100)}`);
      const [raw, epoch, denied] = parsed.data;
      return judge(ref, { raw, epoch, denied: denied !== null, tokenMatches: true });
    }
    const record = this.keys.sessionRecord(userId, sessionId);
    const client = this.redis.client;
    if (jti === undefined) {
      const [raw = null, epoch = null] = await this.breaker.read(() => withRedisErrors(() => client.mget(record, epochKey)));
      return judge(ref, { raw, epoch, denied: false, tokenMatches: true });
    }
    const [raw = null, epoch = null, denied = null, pointer = null] = await this.breaker.read(() =>
      withRedisErrors(() => client.mget(record, epochKey, this.keys.sessionDenylist(userId, jti), this.keys.sessionAccessToken(userId, jti))),
    );
    return judge(ref, { raw, epoch, denied: denied !== null, tokenMatches: pointer === sessionId });
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
    // StaleEpoch, or Expired (the expiry passed by the Redis clock): nothing stored, Postgres stays the answer.
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

/**
 * The validation answer from what Redis holds (the decision `validateSession` used to make in Lua).
 * Expiry: `putSession` ends a record's TTL at its `expiresAt` by the Redis clock, so a record that is
 * there has not expired by that clock; the check below adds this process's clock, so a record is never a
 * hit once either clock says it has expired (`expired` sends the validator to Postgres, which decides).
 */
function judge(ref: SessionRef, reads: SessionReads): SessionValidation {
  const epoch = Number(reads.epoch ?? '0') || 0;
  if (reads.denied) return { status: 'revoked', reason: 'denylisted' };
  const raw = reads.raw;
  if (raw === null) return { status: 'miss', epoch };
  const header = cachedSessionCodec.header(raw);
  let expiresAt: number;
  let recordEpoch: number;
  if (header) {
    expiresAt = header.expiresAt;
    recordEpoch = header.revocationEpoch;
  } else {
    // Revocation markers, and records of releases before the s1 header, are JSON.
    const json = parseJson(raw);
    if (typeof json !== 'object' || json === null) return { status: 'miss', epoch };
    const value = json as { revoked?: unknown; expiresAt?: unknown; revocationEpoch?: unknown };
    if (value.revoked === true) return { status: 'revoked', reason: 'revoked' };
    if (typeof value.expiresAt !== 'number' || typeof value.revocationEpoch !== 'number') return { status: 'miss', epoch };
    expiresAt = value.expiresAt;
    recordEpoch = value.revocationEpoch;
  }
  if (expiresAt <= Date.now()) return { status: 'revoked', reason: 'expired' };
  if (recordEpoch < epoch) return { status: 'revoked', reason: 'epoch' };
  if (!reads.tokenMatches) return { status: 'miss', epoch };
  // A record that no longer has the expected shape (older release, corruption) is a miss: Postgres decides.
  const session = cachedSessionCodec.decode(raw, header?.bodyStart);
  if (session === undefined || session.userId !== ref.userId) return { status: 'miss' };
  if (ref.sessionId !== undefined && session.sessionId !== ref.sessionId) return { status: 'miss' };
  return { status: 'hit', session };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function revocationMarker(sessionId: string | null): string {
  return JSON.stringify({ revoked: true, sessionId });
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(Math.ceil(value), min), max);
}
