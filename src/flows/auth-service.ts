import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { AccountStateError, InvalidCredentialsError, StoreUnavailableError, TokenError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseInput } from '../parse-input.js';
import { AccountRepository } from '../postgres/repositories/account-repository.js';
import { AuditWriter } from '../postgres/repositories/audit-writer.js';
import type { AuditEventInput } from '../postgres/repositories/audit-repository.js';
import { RefreshTokenRepository } from '../postgres/repositories/refresh-token-repository.js';
import { RefreshTokenReusedError } from '../postgres/repositories/refresh-token-reused-error.js';
import { SessionRepository, type SessionRecord } from '../postgres/repositories/session-repository.js';
import { UserRepository, type UserCredentials, type UserRecord } from '../postgres/repositories/user-repository.js';
import { LoginThrottle } from '../redis/login-throttle.js';
import { SessionCache, type CachedSession, type SessionRef } from '../redis/session-cache.js';
import { LockoutPolicy } from '../security/lockout-policy.js';
import { PasswordHasher } from '../security/password-hasher.js';
import { MEMBERSHIP_ROLES } from '../tenancy/membership-role.js';
import { createTenantContext, type TenantContext } from '../tenancy/tenant-context.js';
import { LOGGER } from '../tokens.js';
import { AUTH_FLOW_OPTIONS, type AuthFlowOptions } from './auth-flow-options.js';
import { clientContextSchema, type ClientContext, type ParsedClientContext } from './client-context.js';
import { REFRESH_REUSE_RISK, scoreFailedLoginRisk, scoreLoginRisk } from './login-risk.js';
import { SessionIssuer, type SignInResult } from './session-issuer.js';
import { SessionRevoker } from './session-revoker.js';

export type LoginResult = SignInResult;

/** What `refresh` returns: the session continues; the refresh token is replaced. */
export interface RefreshResult {
  readonly sessionId: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly accessTokenJti: string;
  /** The successor token; the presented one is spent. Hand it to the client, never log it. */
  readonly refreshToken: string;
  /** When the session expires (refresh does not extend it). */
  readonly expiresAt: Date;
  /** True when this call lost a concurrent refresh inside the grace window and got the winner's token. */
  readonly replayed: boolean;
}

/** A session accepted by `validate`. */
export interface ValidatedSession {
  readonly sessionId: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly expiresAt: Date;
  readonly context: TenantContext;
  /** Where the answer came from: Redis (hot path) or Postgres (miss, repopulated). */
  readonly source: 'cache' | 'postgres';
}

const emailInput = z.email().max(320);
// Bounded so a megabyte "password" cannot make bcrypt's input hashing the cost; the hasher refuses > 72 bytes anyway.
const passwordInput = z.string().min(1).max(1024);
const refreshTokenInput = z.string().min(1).max(512);
const jtiInput = z.string().min(1).max(128);
const sessionRefInput = z.union([
  z.object({ userId: z.uuid(), sessionId: z.uuid(), jti: jtiInput.optional() }).strict(),
  z.object({ userId: z.uuid(), jti: jtiInput }).strict(),
]);
const suspendInput = z.object({ userId: z.uuid(), reason: z.string().trim().min(1).max(180) }).strict();

/**
 * Password sign-in and the session lifecycle: login, refresh, validate
 * (the hot path), logout, logout everywhere, revoke, suspend.
 * See docs/sessions.md, "Flows", for the sequence diagrams.
 *
 * @example
 * const auth = platform.resolve(AuthService);
 * const { sessionId, accessTokenJti, refreshToken, user } = await auth.login(email, password, { ip, userAgent });
 * const session = await auth.validate({ userId: user.id, sessionId });
 */
@injectable()
export class AuthService {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(SessionRepository) private readonly sessions: SessionRepository,
    @inject(RefreshTokenRepository) private readonly refreshTokens: RefreshTokenRepository,
    @inject(SessionCache) private readonly cache: SessionCache,
    @inject(LoginThrottle) private readonly throttle: LoginThrottle,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(LockoutPolicy) private readonly lockout: LockoutPolicy,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(SessionIssuer) private readonly issuer: SessionIssuer,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Password sign-in: throttle → lookup → bcrypt (dummy for unknown users) →
   * lockout bookkeeping → account state → rehash → session → audit.
   *
   * @param context.organizationId the organization to sign in to (default: the oldest membership)
   * @throws ValidationError naming `email` / `password` / `context.*` (never echoing the password)
   * @throws RateLimitedError (with `retryAfterMs`) when the account or IP is throttled
   * @throws InvalidCredentialsError for an unknown email or a wrong password — identical in both cases
   * @throws AccountStateError `locked` / `suspended` / `deleted` / `pending_verification` / `password_change_required`, only after a correct password
   * @throws TenantAccessError when the user belongs to no (such) organization
   */
  async login(email: string, password: string, context: ClientContext & { organizationId?: string } = {}): Promise<LoginResult> {
    const { organizationId, ...clientInput } = context;
    const input = parseInput(
      z.object({ email: emailInput, password: passwordInput, organizationId: z.uuid().optional(), context: clientContextSchema }),
      { email, password, organizationId, context: clientInput },
    );
    const client = input.context;
    const attempt = { email: input.email, ...(client.ip === undefined ? {} : { ip: client.ip }) };

    await this.throttle.check(attempt).catch((error: unknown) => {
      // Fail open on a Redis outage only: the Postgres lockout stays the exact per-account bound.
      if (error instanceof StoreUnavailableError) return this.logger.warn('login throttle unavailable; relying on the Postgres lockout', { error });
      throw error;
    });

    const credentials = await this.users.findCredentialsByEmail(input.email);
    const hash = credentials?.passwordHash ?? null;
    const matches = credentials && hash !== null ? await this.hasher.verify(input.password, hash) : await this.hasher.verifyDummy(input.password);
    if (!matches || !credentials || hash === null) {
      await this.#recordFailure(credentials, attempt, client);
      throw new InvalidCredentialsError();
    }

    // From here on the password was right, so the account state may be told.
    const user = credentials.user;
    this.#assertMaySignIn(user);
    if (!(await this.users.recordSuccessfulLogin(user.id, client.ip))) {
      // A concurrent failure series locked the account after our lookup.
      const latest = await this.users.getById(user.id);
      throw new AccountStateError('locked', latest?.lockedUntil ?? undefined);
    }
    await this.throttle.reset({ email: input.email }).catch((error: unknown) => this.logger.warn('login throttle reset failed', { error }));
    await this.#rehashIfNeeded(user.id, input.password, hash);

    const risk = await this.#loginRisk(user, client);
    const result = await this.issuer.issue(user, client, input.organizationId);
    await this.#audit({
      eventType: 'auth.login.succeeded',
      organizationId: result.organization.id,
      actorUserId: user.id,
      ip: client.ip ?? null,
      userAgent: client.userAgent ?? null,
      riskScore: risk.score,
      details: { sessionId: result.sessionId, newIp: risk.newIp, newDevice: risk.newDevice, recentFailures: user.failedLoginCount },
    });
    return result;
  }

  /**
   * Rotates a refresh token. Reuse of a rotated token outside the grace window
   * revokes its family and session (Postgres, then Redis) and writes a
   * high-risk audit event before throwing.
   * @throws ValidationError naming `refreshToken` / `context.*`
   * @throws TokenError `invalid` / `revoked` / `expired` / `reused`
   */
  async refresh(refreshToken: string, context: ClientContext = {}): Promise<RefreshResult> {
    const input = parseInput(z.object({ refreshToken: refreshTokenInput, context: clientContextSchema }), { refreshToken, context });
    try {
      const rotated = await this.refreshTokens.rotate(input.refreshToken);
      const session = await this.sessions.get(rotated.refreshToken.sessionId);
      if (!session) throw new TokenError('revoked', 'Session no longer exists');
      return {
        sessionId: session.id,
        userId: session.userId,
        organizationId: session.organizationId,
        accessTokenJti: session.accessTokenJti,
        refreshToken: rotated.token,
        expiresAt: session.expiresAt,
        replayed: rotated.replayed,
      };
    } catch (error) {
      if (error instanceof RefreshTokenReusedError) await this.#onReuse(error, input.context);
      throw error;
    }
  }

  /**
   * The hot path. Redis answers in one round trip; a miss (or a Redis outage)
   * asks Postgres, which is the source of truth, and repopulates the cache
   * unless a revocation raced the read.
   *
   * `userId` is the access token's subject: keys are per user, so the cache
   * can be asked without a lookup. Call this after verifying the token's signature.
   * @throws ValidationError naming `userId` / `sessionId` / `jti`
   * @throws TokenError `revoked` / `expired` / `invalid` (unknown session, or it belongs to someone else)
   */
  async validate(ref: SessionRef): Promise<ValidatedSession> {
    const r = parseInput(sessionRefInput, ref) as SessionRef;
    // With a jti, ask by jti: the pointer proves which session the token belongs to, and the denylist is consulted.
    const cacheRef: SessionRef = r.jti !== undefined ? { userId: r.userId, jti: r.jti } : r;
    let cached;
    try {
      cached = await this.cache.validate(cacheRef);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.logger.warn('session cache unavailable; validating against Postgres', { error });
      return this.#validateFromPostgres(r, false);
    }
    if (cached.status === 'revoked') throw new TokenError(cached.reason === 'expired' ? 'expired' : 'revoked', 'Session is not valid');
    if (cached.status === 'hit' && (r.sessionId === undefined || cached.session.sessionId === r.sessionId)) {
      const accepted = fromCache(cached.session);
      if (accepted) return accepted;
    }
    return this.#validateFromPostgres(r, true);
  }

  /**
   * Ends one session (the caller's own).
   * @returns false when no such session exists
   * @throws ValidationError naming `sessionId`; StoreUnavailableError when Redis stays down after the Postgres revoke
   */
  async logout(sessionId: string): Promise<boolean> {
    return this.revoker.revokeSession(sessionId, 'logout');
  }

  /**
   * Ends every session of the user in every organization.
   * @returns how many sessions were revoked
   * @throws ValidationError naming `userId`; StoreUnavailableError
   */
  async logoutEverywhere(userId: string): Promise<number> {
    return this.revoker.revokeAllForUser(userId, 'logout_everywhere');
  }

  /**
   * Revokes one session for a reason (admin action, security response).
   * @throws ValidationError naming `sessionId` / `reason`; StoreUnavailableError
   */
  async revokeSession(sessionId: string, reason: string): Promise<boolean> {
    return this.revoker.revokeSession(sessionId, reason);
  }

  /**
   * Suspends an account: status first (so no new sign-in succeeds — a sign-in
   * racing this re-checks the status after creating its session), then every
   * session revoked (Postgres, then Redis), then an audit event. Callers
   * authorise the admin first.
   * @returns the number of sessions revoked
   * @throws ValidationError naming `userId` / `reason`; NotFoundError for an unknown user; StoreUnavailableError
   */
  async suspendUser(userId: string, reason: string, actor?: { userId?: string; organizationId?: string }): Promise<number> {
    const d = parseInput(suspendInput, { userId, reason });
    const user = await this.users.setStatus(d.userId, 'suspended');
    const revoked = await this.revoker.revokeAllForUser(user.id, `suspended: ${d.reason}`);
    await this.#audit({
      eventType: 'auth.user.suspended',
      organizationId: actor?.organizationId ?? null,
      actorUserId: actor?.userId ?? null,
      riskScore: 50,
      details: { targetUserId: user.id, reason: d.reason, revokedSessions: revoked },
    });
    return revoked;
  }

  async #validateFromPostgres(ref: SessionRef, repopulate: boolean): Promise<ValidatedSession> {
    // The epoch is read BEFORE Postgres: a revoke-all between the two makes the put stale.
    const epoch = repopulate ? await this.cache.readEpoch(ref.userId).catch(() => undefined) : undefined;
    const session = ref.sessionId === undefined ? await this.sessions.getByJti(ref.jti) : await this.sessions.get(ref.sessionId);
    const live = this.#assertLive(session, ref);
    const membership = await this.accounts.findMembership(live.userId, live.organizationId);
    if (!membership) throw new TokenError('revoked', 'Membership has ended');
    const context = createTenantContext({ organizationId: live.organizationId, userId: live.userId, role: membership.role, scopes: [] });
    const accepted: ValidatedSession = { sessionId: live.id, userId: live.userId, organizationId: live.organizationId, expiresAt: live.expiresAt, context, source: 'postgres' };
    if (epoch === undefined) return accepted;

    const expiresAt = live.expiresAt.getTime();
    const outcome = await this.cache
      .put(
        { sessionId: live.id, userId: live.userId, organizationId: live.organizationId, expiresAt, revocationEpoch: epoch, roles: [membership.role] },
        { jti: live.accessTokenJti, expiresAt },
      )
      .catch((error: unknown) => {
        this.logger.warn('session cache repopulation failed', { error });
        return 'skipped' as const;
      });
    // A revocation marker is only written after Postgres revoked the session: trust it over our earlier read.
    if (outcome === 'revoked') throw new TokenError('revoked', 'Session is not valid');
    if (outcome === 'stale') {
      // The epoch moved while we read: a revoke-all ran. Postgres (already written by it) decides, uncached.
      this.#assertLive(ref.sessionId === undefined ? await this.sessions.getByJti(ref.jti) : await this.sessions.get(ref.sessionId), ref);
    }
    return accepted;
  }

  #assertLive(session: SessionRecord | undefined, ref: SessionRef): SessionRecord {
    if (!session || session.userId !== ref.userId || (ref.jti !== undefined && session.accessTokenJti !== ref.jti)) {
      throw new TokenError('invalid', 'Unknown session');
    }
    if (session.revokedAt !== null) throw new TokenError('revoked', 'Session is not valid');
    if (session.expiresAt.getTime() <= Date.now()) throw new TokenError('expired', 'Session has expired');
    return session;
  }

  /** @throws AccountStateError */
  #assertMaySignIn(user: UserRecord): void {
    if (user.status === 'deleted' || user.deletedAt !== null) throw new AccountStateError('deleted');
    if (user.status === 'suspended') throw new AccountStateError('suspended');
    if (user.status === 'locked') throw new AccountStateError('locked');
    if (this.lockout.isLocked(user.lockedUntil)) throw new AccountStateError('locked', user.lockedUntil ?? undefined);
    if (user.status === 'pending_verification' && this.options.requireVerifiedEmail) throw new AccountStateError('pending_verification');
    if (user.mustChangePassword) throw new AccountStateError('password_change_required');
  }

  async #recordFailure(credentials: UserCredentials | undefined, attempt: { email: string; ip?: string }, client: ParsedClientContext): Promise<void> {
    const [counts, lock] = await Promise.all([
      this.throttle.recordFailure(attempt).catch((error: unknown) => {
        this.logger.warn('login throttle unavailable; failure not counted in Redis', { error });
        return undefined;
      }),
      credentials ? this.users.recordFailedLogin(credentials.user.id, this.lockout) : undefined,
    ]);
    const failures = lock?.failedLoginCount ?? counts?.ip ?? counts?.account ?? 1;
    await this.#audit({
      eventType: 'auth.login.failed',
      organizationId: null,
      actorUserId: credentials?.user.id ?? null,
      ip: client.ip ?? null,
      userAgent: client.userAgent ?? null,
      riskScore: scoreFailedLoginRisk(failures),
      // The audit log is internal, so it may say why; the caller's error never does.
      details: { reason: credentials ? 'wrong_password' : 'unknown_account', failures, locked: lock?.lockedUntil != null },
    });
  }

  async #rehashIfNeeded(userId: string, password: string, hash: string): Promise<void> {
    if (!this.hasher.needsRehash(hash)) return;
    try {
      await this.accounts.replacePasswordHash(userId, hash, await this.hasher.hash(password));
    } catch (error) {
      // The sign-in is valid either way; the next one tries again.
      this.logger.warn('password rehash failed', { userId, error });
    }
  }

  async #loginRisk(user: UserRecord, client: ParsedClientContext): Promise<{ score: number; newIp: boolean; newDevice: boolean }> {
    const active = await this.sessions.listActiveForUser(user.id, { limit: 50 });
    const knownIps = new Set([user.lastLoginIp, ...active.items.map((s) => s.ip)].filter((v): v is string => v !== null));
    const knownDevices = new Set(active.items.map((s) => s.device).filter((v): v is string => v !== null));
    const newIp = client.ip !== undefined && !knownIps.has(client.ip);
    const newDevice = client.deviceId !== undefined && !knownDevices.has(client.deviceId);
    const score = scoreLoginRisk({ hasHistory: user.lastLoginAt !== null, newIp, newDevice, recentFailures: user.failedLoginCount });
    return { score, newIp, newDevice };
  }

  async #onReuse(error: RefreshTokenReusedError, client: ParsedClientContext): Promise<void> {
    // Postgres already revoked family and session (committed by the repository); now Redis.
    const session = await this.sessions.get(error.sessionId);
    try {
      await this.revoker.evictSession({
        id: error.sessionId,
        userId: error.userId,
        accessTokenJti: error.accessTokenJti,
        expiresAt: session?.expiresAt ?? new Date(Date.now() + 1000),
      });
    } catch (evictError) {
      this.logger.error('refresh-token reuse: Redis eviction failed; Postgres is revoked', { sessionId: error.sessionId, error: evictError });
    }
    await this.#audit({
      eventType: 'auth.refresh.reuse_detected',
      organizationId: error.organizationId,
      actorUserId: error.userId,
      ip: client.ip ?? null,
      userAgent: client.userAgent ?? null,
      riskScore: REFRESH_REUSE_RISK,
      details: { sessionId: error.sessionId, familyId: error.familyId, revokedTokens: error.revokedTokens, sessionRevoked: error.sessionRevoked },
    });
  }

  async #audit(event: AuditEventInput): Promise<void> {
    // Auditing must not turn a correct answer into an error for the caller; a lost event is logged loudly.
    await this.audit.record(event).catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: event.eventType, error }));
  }
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
