import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { StoreUnavailableError, TokenError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { SessionRepository, type SessionRecord } from '../../postgres/repositories/session-repository.js';
import { SessionCache, type CachedSession, type SessionRef } from '../../redis/repositories/session-cache.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { MEMBERSHIP_ROLES } from '../../tenancy/membership-role.js';
import { createTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';
import { LOGGER } from '../../tokens.js';
import { activeUntil, OrganizationSecurity } from '../organizations/organization-security.js';
import { SessionRevoker } from './session-revoker.js';

/**
 * Activity on a session is written back (Postgres `last_seen_at`, and the
 * cached record's inactivity deadline) at most once per this interval per
 * session and process: the inactivity timeout may end a session up to this
 * much early (docs/sessions.md, "Organization security settings").
 */
export const ACTIVITY_WRITE_INTERVAL_MS = 60_000;
/** Bounds the per-process activity memo (session id → next write-back time). */
const ACTIVITY_MEMO_MAX_ENTRIES = 50_000;

/** A session accepted by `validate`. */
export interface ValidatedSession {
  readonly sessionId: string;
  readonly userId: string;
  readonly organizationId: string;
  /**
   * When the session ends unless it is used again: the earlier of its absolute
   * expiry and the organization's inactivity deadline (which activity slides,
   * with up to `ACTIVITY_WRITE_INTERVAL_MS` of imprecision).
   */
  readonly expiresAt: Date;
  readonly context: TenantContext;
  /** Where the answer came from: Redis (hot path) or Postgres (miss, repopulated). */
  readonly source: 'cache' | 'postgres';
}

const jtiInput = z.string().min(1).max(128);
const sessionRefInput = z.union([
  z.object({ userId: z.uuid(), sessionId: z.uuid(), jti: jtiInput.optional() }).strict(),
  z.object({ userId: z.uuid(), jti: jtiInput }).strict(),
]);

/**
 * Session validation, the hot path of every request: Redis in one round trip;
 * a miss (or a Redis outage) asks PostgreSQL, the source of truth, and
 * repopulates the cache unless a revocation raced the read. Activity slides
 * the organization's inactivity deadline, written back at most once per
 * {@link ACTIVITY_WRITE_INTERVAL_MS} per session and process (a per-process memo).
 */
@injectable()
@accessControlled
export class SessionValidator {
  constructor(
    @inject(SessionCache) private readonly cache: SessionCache,
    @inject(SessionRepository) private readonly sessions: SessionRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(OrganizationSecurity) private readonly security: OrganizationSecurity,
    @inject(LOGGER) private readonly logger: Logger,
    // Not called here: resolving it installs the breaker's revocation replay and starts the watch for other
    // processes' queued revocations. A process that only validates must still replay before Redis answers.
    @inject(SessionRevoker) _revoker: SessionRevoker,
  ) {}

  /** Session id → when this process next writes its activity back (see {@link ACTIVITY_WRITE_INTERVAL_MS}). */
  readonly #activityMemo = new Map<string, number>();
  /** Session id → its confirmation in flight: concurrent first validations in this process share one write. */
  readonly #confirming = new Map<string, Promise<SessionRecord | undefined>>();

  /**
   * Validates a session. `userId` is the access token's subject: keys are per
   * user, so the cache can be asked without a lookup. Call this after
   * verifying the token's signature.
   * @throws ValidationError naming `userId` / `sessionId` / `jti`
   * @throws TokenError `revoked` / `expired` / `invalid` (unknown session, or it belongs to someone else)
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async validate(ref: SessionRef): Promise<ValidatedSession> {
    const r = parseInput(sessionRefInput, ref) as SessionRef;
    // With a jti the cache consults its denylist, and answers a hit only when the jti's pointer names the session
    // (the proof that the token belongs to it); with the session id too, that is one MGET, no script.
    let cached;
    try {
      cached = await this.cache.validate(r);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      // Debug only: during an outage this is every request (the breaker logs when it opens and closes).
      this.logger.debug('session cache unavailable; validating against Postgres', { error });
      return this.#fromPostgres(r, false);
    }
    // `expired` on a record is usually its inactivity deadline, which a lost write-back may have left
    // short: Postgres (absolute expiry, last_seen_at) decides, and throws `expired` when it agrees.
    if (cached.status === 'revoked' && cached.reason !== 'expired') throw new TokenError('revoked', 'Session is not valid');
    if (cached.status === 'hit' && (r.sessionId === undefined || cached.session.sessionId === r.sessionId)) {
      const accepted = fromCache(cached.session);
      if (accepted) {
        // A new session's first use confirms it: one PostgreSQL write, once (docs/sessions.md, "Confirmation on first use").
        if (!cached.session.confirmed) return this.#confirmFirstUse(r, cached.session, accepted);
        this.#noteActivity(cached.session);
        return accepted;
      }
    }
    // A miss carries the user's revocation epoch, read in the same atomic step: no second round trip for it.
    return this.#fromPostgres(r, true, cached.status === 'miss' ? cached.epoch : undefined);
  }

  async #fromPostgres(ref: SessionRef, repopulate: boolean, missEpoch?: number): Promise<ValidatedSession> {
    // The epoch is read BEFORE Postgres: a revoke-all between the two makes the put stale.
    const epoch = repopulate ? (missEpoch ?? (await this.cache.readEpoch(ref.userId).catch(() => undefined))) : undefined;
    const read = assertLive(await this.#read(ref), ref);
    // An unconfirmed session is confirmed by this use, whichever path it took (a miss, a Redis outage).
    const live = read.confirmedAt === null ? assertLive(await this.#confirm(read.id), ref) : read;
    const [membership, settings] = await Promise.all([
      this.accounts.findMembership(live.userId, live.organizationId),
      this.security.recent(live.organizationId),
    ]);
    const now = Date.now();
    if (live.lastSeenAt.getTime() + settings.inactivityTimeoutMinutes * 60_000 <= now) throw new TokenError('expired', 'Session ended after inactivity');
    if (!membership) throw new TokenError('revoked', 'Membership has ended');
    // This request is activity: recorded off the answer's path, at most once per interval by this process
    // (the memo) and once a minute overall (the UPDATE's own condition) — a FLUSHALL storm costs no write storm.
    const nextWrite = this.#activityMemo.get(live.id);
    if (nextWrite === undefined || now >= nextWrite) {
      this.#rememberActivity(live.id, now + ACTIVITY_WRITE_INTERVAL_MS);
      void this.sessions.touch(live.id).catch((error: unknown) => this.logger.warn('session last-seen update failed', { sessionId: live.id, error }));
    }
    const deadline = activeUntil(live.expiresAt, settings, now);
    const context = createTenantContext({ organizationId: live.organizationId, userId: live.userId, role: membership.role, scopes: [] });
    const accepted: ValidatedSession = {
      sessionId: live.id,
      userId: live.userId,
      organizationId: live.organizationId,
      expiresAt: new Date(deadline),
      context,
      source: 'postgres',
    };
    if (epoch === undefined) return accepted;

    const outcome = await this.cache
      .put(
        { sessionId: live.id, userId: live.userId, organizationId: live.organizationId, expiresAt: deadline, revocationEpoch: epoch, roles: [membership.role] },
        { jti: live.accessTokenJti, expiresAt: live.expiresAt.getTime() },
      )
      .catch((error: unknown) => {
        this.logger.warn('session cache repopulation failed', { error });
        return 'skipped' as const;
      });
    // A revocation marker is only written after Postgres revoked the session: trust it over our earlier read.
    if (outcome === 'revoked') throw new TokenError('revoked', 'Session is not valid');
    // The epoch moved while we read: a revoke-all ran. Postgres (already written by it) decides, uncached.
    if (outcome === 'stale') assertLive(await this.#read(ref), ref);
    return accepted;
  }

  /**
   * The first use of a session found unconfirmed in the cache: confirm it in PostgreSQL (the UPDATE's condition
   * makes one of two concurrent confirmations, in any processes, the writer; the other reads the confirmed row),
   * then cache the record as confirmed with its new expiry. The answer stays the cache's (one more round trip
   * to each store, once per session). With PostgreSQL unreachable the hit is answered unconfirmed (retried next time).
   */
  async #confirmFirstUse(ref: SessionRef, session: CachedSession, accepted: ValidatedSession): Promise<ValidatedSession> {
    let confirmed: SessionRecord | undefined;
    try {
      confirmed = await this.#confirm(session.sessionId);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      // PostgreSQL unreachable: the cached record is still the answer (as for any hit); the session stays
      // unconfirmed, with its window as its end, and the next validation or refresh confirms it.
      this.logger.warn('session confirmation deferred: Postgres unavailable', { sessionId: session.sessionId, error });
      return accepted;
    }
    const live = assertLive(confirmed, ref);
    const now = Date.now();
    const settings = await this.security.recent(accepted.organizationId);
    const deadline = activeUntil(live.expiresAt, settings, now);
    const outcome = await this.cache
      .put({ ...session, confirmed: true, expiresAt: deadline }, { jti: live.accessTokenJti, expiresAt: live.expiresAt.getTime() })
      .catch((error: unknown) => {
        this.logger.warn('session cache update after confirmation failed; the next validation confirms from Postgres', { error });
        return 'skipped' as const;
      });
    if (outcome === 'revoked') throw new TokenError('revoked', 'Session is not valid');
    // A revoke-all moved the epoch since the record was cached: Postgres decides, uncached.
    if (outcome === 'stale') return this.#fromPostgres(ref, false);
    this.#rememberActivity(session.sessionId, now + ACTIVITY_WRITE_INTERVAL_MS);
    return { ...accepted, expiresAt: new Date(deadline) };
  }

  /** {@link SessionRepository.confirm}, shared by the concurrent callers of this process. */
  #confirm(sessionId: string): Promise<SessionRecord | undefined> {
    let pending = this.#confirming.get(sessionId);
    if (pending === undefined) {
      pending = this.sessions.confirm(sessionId).finally(() => this.#confirming.delete(sessionId));
      this.#confirming.set(sessionId, pending);
    }
    return pending;
  }

  #read(ref: SessionRef): Promise<SessionRecord | undefined> {
    return ref.sessionId === undefined ? this.sessions.getByJti(ref.jti) : this.sessions.get(ref.sessionId);
  }

  /**
   * At most once per {@link ACTIVITY_WRITE_INTERVAL_MS} per session and
   * process, write the activity back in the background. Costs a map lookup
   * per hit; the answer never waits for it.
   */
  #noteActivity(session: CachedSession): void {
    const now = Date.now();
    const next = this.#activityMemo.get(session.sessionId);
    if (next !== undefined && now < next) return;
    this.#rememberActivity(session.sessionId, now + ACTIVITY_WRITE_INTERVAL_MS);
    void this.#slide(session, now).catch((error: unknown) => this.logger.warn('session activity write-back failed', { sessionId: session.sessionId, error }));
  }

  /**
   * Moves the cached record's inactivity deadline to now + the timeout and
   * stamps `last_seen_at`, unless another process did within the interval
   * (the deadline says so). The put carries the record's original epoch, so a
   * revocation since is never undone (marker → `revoked`, epoch → `stale`).
   */
  async #slide(session: CachedSession, now: number): Promise<void> {
    if (session.organizationId === null) return;
    const settings = await this.security.recent(session.organizationId);
    const inactivityMs = settings.inactivityTimeoutMinutes * 60_000;
    if (session.expiresAt - now > inactivityMs - ACTIVITY_WRITE_INTERVAL_MS) {
      this.#rememberActivity(session.sessionId, session.expiresAt - inactivityMs + ACTIVITY_WRITE_INTERVAL_MS);
      return;
    }
    const row = await this.sessions.get(session.sessionId);
    if (!row || row.revokedAt !== null || row.expiresAt.getTime() <= now) return;
    const deadline = activeUntil(row.expiresAt, settings, now);
    // At the absolute end the deadline cannot move: nothing to write.
    if (Math.abs(deadline - session.expiresAt) < 1000) return;
    await this.sessions.touch(row.id, Math.floor(ACTIVITY_WRITE_INTERVAL_MS / 2000));
    await this.cache.put({ ...session, expiresAt: deadline }, { jti: row.accessTokenJti, expiresAt: row.expiresAt.getTime() });
  }

  #rememberActivity(sessionId: string, nextWriteAt: number): void {
    this.#activityMemo.delete(sessionId);
    this.#activityMemo.set(sessionId, nextWriteAt);
    if (this.#activityMemo.size > ACTIVITY_MEMO_MAX_ENTRIES) {
      const oldest = this.#activityMemo.keys().next();
      if (!oldest.done) this.#activityMemo.delete(oldest.value);
    }
  }
}

function assertLive(session: SessionRecord | undefined, ref: SessionRef): SessionRecord {
  if (!session || session.userId !== ref.userId || (ref.jti !== undefined && session.accessTokenJti !== ref.jti)) {
    throw new TokenError('invalid', 'Unknown session');
  }
  if (session.revokedAt !== null) throw new TokenError('revoked', 'Session is not valid');
  if (session.expiresAt.getTime() <= Date.now()) throw new TokenError('expired', 'Session has expired');
  return session;
}

function fromCache(session: CachedSession): ValidatedSession | undefined {
  const role = MEMBERSHIP_ROLES.find((r) => r === session.roles[0]);
  // A record without a usable organization or role (older release) is treated as a miss.
  if (session.organizationId === null || role === undefined) return undefined;
  return {
    sessionId: session.sessionId,
    userId: session.userId,
    organizationId: session.organizationId,
    expiresAt: new Date(session.expiresAt),
    context: createTenantContext({ organizationId: session.organizationId, userId: session.userId, role, scopes: session.scopes }),
    source: 'cache',
  };
}
