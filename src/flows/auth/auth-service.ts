import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { AccountStateError, InvalidCredentialsError, InvalidMfaCodeError, StoreUnavailableError, TokenError, ValidationError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import type { AuditEventInput } from '../../postgres/repositories/audit-repository.js';
import { MfaChallengeRepository, type MfaChallengeRecord } from '../../postgres/repositories/mfa-challenge-repository.js';
import { PasswordHistoryRepository } from '../../postgres/repositories/password-history-repository.js';
import { RefreshTokenRepository } from '../../postgres/repositories/refresh-token-repository.js';
import { RefreshTokenReusedError } from '../../postgres/repositories/refresh-token-reused-error.js';
import { SessionRepository, type SessionRecord } from '../../postgres/repositories/session-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { LoginThrottle } from '../../redis/login-throttle.js';
import { SessionCache, type CachedSession, type SessionRef } from '../../redis/session-cache.js';
import { LockoutPolicy } from '../../security/lockout-policy.js';
import { PasswordGate, type LockoutState } from './password-gate.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { PasswordPolicy, type PasswordCheckContext, type PasswordPolicyInput } from '../../security/password-policy.js';
import { MEMBERSHIP_ROLES } from '../../tenancy/membership-role.js';
import { createTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';
import { AUTH_FLOW_OPTIONS, LOGGER } from '../../tokens.js';
import type { AuthFlowOptions } from './auth-flow-options.js';
import { clientAuditFields, clientContextSchema, type ClientContext, type ParsedClientContext } from './client-context.js';
import { REFRESH_REUSE_RISK, scoreFailedLoginRisk, scoreLoginRisk } from './login-risk.js';
import { MfaService, mfaProofSchema, secondFactorDue, totpCodeInput, type MfaChallengeResult, type MfaEnrollmentRequiredResult, type MfaProof } from './mfa-service.js';
import { activeUntil, OrganizationSecurity } from '../organizations/organization-security.js';
import { SessionIssuer, type SignInResult } from './session-issuer.js';
import { SessionRevoker } from './session-revoker.js';
import { StrictestPasswordPolicy } from './strictest-password-policy.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** A finished sign-in: the session exists. Contains the refresh token: hand it to the client, never log it. */
export type SignedInResult = SignInResult & { readonly status: 'signed_in' };

// Defined beside the challenge they describe (shared with OAuth sign-in); re-exported for existing importers.
export type { MfaChallengeResult, MfaEnrollmentRequiredResult } from './mfa-service.js';

/** What `login` returns; narrow on `status` (`signed_in` carries the session, as before MFA existed). */
export type LoginResult = SignedInResult | MfaChallengeResult | MfaEnrollmentRequiredResult;

/** A sign-in finished by enrolling MFA: the session, and the recovery codes (shown once). */
export type EnrolledSignInResult = SignedInResult & { readonly recoveryCodes: readonly string[] };

/** What `changePassword` reports. */
export interface PasswordChanged {
  /** Other sessions of the user revoked (the calling one stays). */
  readonly revokedSessions: number;
}

/**
 * Activity on a session is written back (Postgres `last_seen_at`, and the
 * cached record's inactivity deadline) at most once per this interval per
 * session and process: the inactivity timeout may end a session up to this
 * much early (docs/sessions.md, "Organization security settings").
 */
export const ACTIVITY_WRITE_INTERVAL_MS = 60_000;
/** Bounds the per-process activity memo (session id → next write-back time). */
const ACTIVITY_MEMO_MAX_ENTRIES = 50_000;
const DEFAULT_MFA_CHALLENGE_MAX_ATTEMPTS = 5;

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
const challengeTokenInput = z.string().min(1).max(512);
// Extra fields are allowed so a ValidatedSession can be passed as it is.
const ownSessionInput = z.object({ userId: z.uuid(), sessionId: z.uuid() });

/**
 * Password sign-in and the session lifecycle: login, refresh, validate
 * (the hot path), logout, logout everywhere, revoke, suspend.
 * See docs/sessions.md, "Flows", for the sequence diagrams.
 *
 * @example
 * const auth = platform.resolve(AuthService);
 * let result = await auth.login(email, password, { ip, userAgent });
 * if (result.status === 'mfa_required') result = await auth.completeMfaLogin(result.challengeToken, { code }, { ip, userAgent });
 * if (result.status !== 'signed_in') return offerEnrollment(result.challengeToken); // mfa_enrollment_required
 * const session = await auth.validate({ userId: result.user.id, sessionId: result.sessionId });
 */
@injectable()
@accessControlled
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
    @inject(PasswordGate) private readonly gate: PasswordGate,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(SessionIssuer) private readonly issuer: SessionIssuer,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
    @inject(MfaService) private readonly mfa: MfaService,
    @inject(MfaChallengeRepository) private readonly challenges: MfaChallengeRepository,
    @inject(OrganizationSecurity) private readonly security: OrganizationSecurity,
    @inject(StrictestPasswordPolicy) private readonly strictest: StrictestPasswordPolicy,
    @inject(PasswordPolicy) private readonly policy: PasswordPolicy,
    @inject(PasswordHistoryRepository) private readonly passwordHistory: PasswordHistoryRepository,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Session id → when this process next writes its activity back (see {@link ACTIVITY_WRITE_INTERVAL_MS}). */
  readonly #activityMemo = new Map<string, number>();

  /**
   * Password sign-in: throttle → lookup → bcrypt (dummy for unknown users) →
   * account state → organization rules (membership, IP allow-list) ∥ MFA state → [MFA due: challenge, stop] →
   * lockout bookkeeping ∥ risk inputs → session ∥ throttle reset ∥ rehash → audit.
   * The throttle check stays before the lookup, so a throttled attacker costs Postgres nothing.
   *
   * @param context.organizationId the organization to sign in to (default: the oldest membership)
   * @throws ValidationError naming `email` / `password` / `context.*` (never echoing the password)
   * @throws RateLimitedError (with `retryAfterMs`) when the account or IP is throttled
   * @throws InvalidCredentialsError for an unknown email, a wrong password, or an account the lockout has locked
   *   (whatever the password: OWASP ASVS v4 2.2.1, NIST SP 800-63B 5.2.2) — identical in every case
   * @throws AccountStateError `locked` (administrative) / `suspended` / `deleted` / `pending_verification` / `password_change_required`, only after a correct password
   * @throws TenantAccessError when the user belongs to no (such) organization, or (`permission: 'ip_allow_list'`, audited)
   *   when the client's IP is outside the organization's allow-list — only after a correct password
   * @returns `signed_in` with the session; or, when a second factor is due, `mfa_required` / `mfa_enrollment_required` with a challenge and NO session
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
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
    // The lockout's attempt is reserved before bcrypt; a locked account answers like a wrong password.
    const verdict = await this.gate.verify(credentials, input.password);
    if (!verdict.ok || !credentials) {
      await this.#recordFailure(credentials?.user.id, attempt, client, verdict.ok ? 'unknown_account' : verdict.reason, verdict.ok ? {} : { counted: verdict });
      throw new InvalidCredentialsError();
    }

    // From here on the password was right, so the account state may be told (a running lockout excepted).
    const user = credentials.user;
    const hash = verdict.passwordHash;
    this.#assertMaySignIn(user);
    // The organization's rules that need no second factor (membership, IP allow-list), and whether one is due.
    const [target, mfaEnabled] = await Promise.all([this.issuer.resolveTarget(user, client, input.organizationId, 'login'), this.mfa.isEnabled(user.id)]);
    const due = secondFactorDue(mfaEnabled, target.settings);
    if (due !== undefined) {
      // No session and no counter reset yet: resetting the lockout here would let someone holding
      // the password alternate password and code guesses forever. completeMfaLogin resets on success.
      await this.#rehashIfNeeded(user.id, input.password, hash);
      return this.mfa.startSignInChallenge(user, target.membership.organizationId, due, client);
    }
    // Independent reads, one round-trip time: the lockout gate, and the sessions that exist before this
    // one (the risk score's known IPs and devices — read before issue() creates the new session).
    const [unlocked, risk] = await Promise.all([this.users.recordSuccessfulLogin(user.id, client.ip), this.#loginRisk(user, client)]);
    // A concurrent failure series locked the account after our attempt: answered like a wrong password.
    if (!unlocked) throw new InvalidCredentialsError();
    // From here the sign-in is accepted: the throttle reset and a rehash never fail it, so they run beside the session issue.
    const [result] = await Promise.all([
      this.issuer.issue(user, client, input.organizationId, {
        target,
        audit: (sessionId, organizationId) => [loginSucceeded(user, client, risk, organizationId, { sessionId })],
      }),
      this.throttle.reset({ email: input.email }).catch((error: unknown) => this.logger.warn('login throttle reset failed', { error })),
      this.#rehashIfNeeded(user.id, input.password, hash),
    ]);
    return { status: 'signed_in', ...result };
  }

  /**
   * Second step of a sign-in that returned `mfa_required`: checks a TOTP code
   * (each time step accepted once, atomically) or consumes a recovery code,
   * then issues the session. A wrong or replayed code counts like a wrong
   * password (Redis throttle + Postgres lockout) and against the challenge
   * (closed after 5 wrong codes).
   * @throws ValidationError naming `challengeToken` / `code` / `recoveryCode` / `context.*`
   * @throws TokenError `invalid` / `consumed` / `expired` for the challenge
   * @throws InvalidMfaCodeError `invalid` / `replayed`
   * @throws RateLimitedError; InvalidCredentialsError once wrong codes have locked the account; AccountStateError (e.g. `suspended`); TenantAccessError (IP allow-list, membership ended)
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async completeMfaLogin(challengeToken: string, proof: MfaProof, context: ClientContext = {}): Promise<SignedInResult> {
    const input = parseInput(z.object({ challengeToken: challengeTokenInput, proof: mfaProofSchema, context: clientContextSchema }), {
      challengeToken,
      proof,
      context,
    });
    const { challenge, user, attempt } = await this.#openChallenge(input.challengeToken, 'sign_in', input.context);
    let method: 'totp' | 'recovery_code';
    try {
      method = await this.mfa.verify(user.id, input.proof);
    } catch (error) {
      if (error instanceof InvalidMfaCodeError) await this.#recordMfaFailure(user, challenge, attempt, input.context, error.reason);
      throw error;
    }
    return this.#finishMfaSignIn(user, challenge, input.context, method);
  }

  /**
   * Second step of a sign-in that returned `mfa_enrollment_required`, after
   * `MfaService.beginTotpEnrollment({ challengeToken })`: the first code
   * enables TOTP, then the session is issued. Wrong codes count like wrong
   * passwords. Policy: a user of an organization that requires MFA enrols at
   * their first sign-in with the password alone (docs/sessions.md).
   * @returns the session and the recovery codes (shown once)
   * @throws ValidationError naming `challengeToken` / `code` / `context.*`
   * @throws TokenError for the challenge; InvalidMfaCodeError; NotFoundError when enrolment was not begun
   * @throws RateLimitedError; AccountStateError; TenantAccessError
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async completeMfaEnrollment(challengeToken: string, code: string, context: ClientContext = {}): Promise<EnrolledSignInResult> {
    const input = parseInput(z.object({ challengeToken: challengeTokenInput, code: totpCodeInput, context: clientContextSchema }), {
      challengeToken,
      code,
      context,
    });
    const { challenge, user, attempt } = await this.#openChallenge(input.challengeToken, 'enrollment', input.context);
    let recoveryCodes: readonly string[];
    try {
      recoveryCodes = (await this.mfa.enableWithCode(user.id, input.code)).recoveryCodes;
    } catch (error) {
      if (error instanceof InvalidMfaCodeError) await this.#recordMfaFailure(user, challenge, attempt, input.context, error.reason);
      throw error;
    }
    await this.#audit({ eventType: 'auth.mfa.enabled', organizationId: challenge.organizationId, actorUserId: user.id, details: { method: 'totp', atSignIn: true } });
    const result = await this.#finishMfaSignIn(user, challenge, input.context, 'totp_enrollment');
    return { ...result, recoveryCodes };
  }

  /**
   * Changes the signed-in user's password: the session must be live, the
   * current password right (a wrong one counts like a failed sign-in), the new
   * one must meet the strictest policy of the user's organizations and not
   * repeat the current or a recent one. Clears `must_change_password`, then
   * revokes every OTHER session of the user (the calling one stays).
   * @param session the caller's session (e.g. the `ValidatedSession` of this request)
   * @throws ValidationError naming `session.*` / `currentPassword` / `newPassword` (issues carry the broken rules as codes)
   * @throws TokenError when the session is not live; InvalidCredentialsError for a wrong current password; RateLimitedError
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async changePassword(
    session: { readonly userId: string; readonly sessionId: string },
    currentPassword: string,
    newPassword: string,
    context: ClientContext = {},
  ): Promise<PasswordChanged> {
    const input = parseInput(
      z.object({ session: ownSessionInput, currentPassword: passwordInput, newPassword: z.string().min(1).max(1024), context: clientContextSchema }),
      { session, currentPassword, newPassword, context },
    );
    const client = input.context;
    const live = await this.validate({ userId: input.session.userId, sessionId: input.session.sessionId });
    const user = await this.users.getById(live.userId);
    if (!user) throw new TokenError('revoked', 'Session is not valid');
    const attempt = { email: user.email, ...(client.ip === undefined ? {} : { ip: client.ip }) };
    await this.#throttleCheck(attempt);

    const verdict = await this.gate.verify(await this.users.findCredentialsByEmail(user.email), input.currentPassword);
    if (!verdict.ok) {
      await this.#recordFailure(user.id, attempt, client, 'wrong_current_password', { organizationId: live.organizationId, counted: verdict });
      throw new InvalidCredentialsError();
    }
    const hash = verdict.passwordHash;

    const { options, historyDepth } = await this.strictest.forUser(user.id);
    const history = await this.passwordHistory.recent(user.id, historyDepth);
    // The current password counts as used: "changing" to it would change nothing.
    await this.#assertNewPassword(input.newPassword, { email: user.email, previousHashes: [hash, ...history] }, options);
    await this.accounts.changePassword(user.id, await this.hasher.hash(input.newPassword), historyDepth);
    const revokedSessions = await this.#revokeOtherSessions(user.id, live.sessionId);
    await this.#audit({
      eventType: 'auth.password.changed',
      organizationId: live.organizationId,
      actorUserId: user.id,
      ip: client.ip ?? null,
      userAgent: client.userAgent ?? null,
      riskScore: 20,
      details: { sessionId: live.sessionId, revokedSessions },
    });
    return { revokedSessions };
  }

  /**
   * Rotates a refresh token. Reuse of a rotated token outside the grace window
   * revokes its family and session (Postgres, then Redis) and writes a
   * high-risk audit event before throwing.
   * @throws ValidationError naming `refreshToken` / `context.*`
   * @throws TokenError `invalid` / `revoked` / `expired` / `reused`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async refresh(refreshToken: string, context: ClientContext = {}): Promise<RefreshResult> {
    const input = parseInput(z.object({ refreshToken: refreshTokenInput, context: clientContextSchema }), { refreshToken, context });
    try {
      // One transaction: the rotation, the session it belongs to and the inactivity check. Nothing is read
      // after the commit, so no failure can reach a client whose token was already spent (issue 16: a
      // failed read after the commit turned a retry after the grace window into a reuse verdict).
      const rotated = await this.refreshTokens.rotate(input.refreshToken, { reuseEvents: (reuse) => [reuseDetected(reuse, input.context)] });
      const record = rotated.refreshToken;
      return {
        sessionId: record.sessionId,
        userId: record.userId,
        organizationId: record.organizationId,
        accessTokenJti: rotated.session.accessTokenJti,
        refreshToken: rotated.token,
        expiresAt: rotated.session.expiresAt,
        replayed: rotated.replayed,
      };
    } catch (error) {
      if (error instanceof RefreshTokenReusedError) await this.#onReuse(error);
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
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async validate(ref: SessionRef): Promise<ValidatedSession> {
    const r = parseInput(sessionRefInput, ref) as SessionRef;
    // With a jti, ask by jti: the pointer proves which session the token belongs to, and the denylist is consulted.
    const cacheRef: SessionRef = r.jti !== undefined ? { userId: r.userId, jti: r.jti } : r;
    let cached;
    try {
      cached = await this.cache.validate(cacheRef);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      // Debug only: during an outage this is every request (the breaker logs when it opens and closes).
      this.logger.debug('session cache unavailable; validating against Postgres', { error });
      return this.#validateFromPostgres(r, false);
    }
    // `expired` on a record is usually its inactivity deadline, which a lost write-back may have left
    // short: Postgres (absolute expiry, last_seen_at) decides, and throws `expired` when it agrees.
    if (cached.status === 'revoked' && cached.reason !== 'expired') throw new TokenError('revoked', 'Session is not valid');
    if (cached.status === 'hit' && (r.sessionId === undefined || cached.session.sessionId === r.sessionId)) {
      const accepted = fromCache(cached.session);
      if (accepted) {
        this.#noteActivity(cached.session);
        return accepted;
      }
    }
    return this.#validateFromPostgres(r, true);
  }

  /**
   * Ends one session (the caller's own).
   * @returns false when no such session exists
   * Answers once PostgreSQL committed, also while Redis is down: the Redis half is replayed before Redis answers validations again.
   * @throws ValidationError naming `sessionId`; StoreUnavailableError when PostgreSQL is unavailable
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async logout(sessionId: string): Promise<boolean> {
    return this.revoker.revokeSession(sessionId, 'logout');
  }

  /**
   * Ends every session of the user in every organization.
   * @returns how many sessions were revoked
   * @throws ValidationError naming `userId`; StoreUnavailableError
   */
  @declareAccess({ systemJob: 'operator action of the application, not a tenant\'s' })
  async logoutEverywhere(userId: string): Promise<number> {
    return this.revoker.revokeAllForUser(userId, 'logout_everywhere');
  }

  /**
   * Revokes one session for a reason (admin action, security response).
   * @throws ValidationError naming `sessionId` / `reason`; StoreUnavailableError
   */
  @declareAccess({ systemJob: 'operator action of the application, not a tenant\'s' })
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
  @declareAccess({ systemJob: 'operator action of the application, not a tenant\'s' })
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
    const [membership, settings] = await Promise.all([this.accounts.findMembership(live.userId, live.organizationId), this.security.recent(live.organizationId)]);
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
    // A running lockout is told to nobody but the owner (AuthNotifier.accountLocked): no password oracle.
    if (this.lockout.isLocked(user.lockedUntil)) throw new InvalidCredentialsError();
    if (user.status === 'pending_verification' && this.options.requireVerifiedEmail) throw new AccountStateError('pending_verification');
    if (user.mustChangePassword) throw new AccountStateError('password_change_required');
  }

  async #recordFailure(
    userId: string | undefined,
    attempt: { email: string; ip?: string },
    client: ParsedClientContext,
    reason: 'wrong_password' | 'unknown_account' | 'locked' | 'wrong_current_password' | 'wrong_mfa_code' | 'replayed_mfa_code',
    extra: { organizationId?: string; details?: Record<string, unknown>; alongside?: Promise<unknown>; counted?: Partial<LockoutState> } = {},
  ): Promise<void> {
    const [counts, lock] = await Promise.all([
      this.throttle.recordFailure(attempt).catch((error: unknown) => {
        this.logger.warn('login throttle unavailable; failure not counted in Redis', { error });
        return undefined;
      }),
      // A password check (PasswordGate) has counted already; other failures are counted here.
      extra.counted ?? (userId === undefined ? undefined : this.gate.countFailure({ id: userId, email: attempt.email })),
      extra.alongside,
    ]);
    const failures = lock?.failedLoginCount ?? counts?.ip ?? counts?.account ?? 1;
    await this.#audit({
      eventType: reason === 'wrong_mfa_code' || reason === 'replayed_mfa_code' ? 'auth.login.mfa_failed' : 'auth.login.failed',
      organizationId: extra.organizationId ?? null,
      actorUserId: userId ?? null,
      ...clientAuditFields(client),
      riskScore: scoreFailedLoginRisk(failures),
      // The audit log is internal, so it may say why; the caller's error never does.
      details: { reason, failures, locked: lock?.lockedUntil != null, ...extra.details },
    });
  }

  async #recordMfaFailure(
    user: UserRecord,
    challenge: MfaChallengeRecord,
    attempt: { email: string; ip?: string },
    client: ParsedClientContext,
    reason: InvalidMfaCodeError['reason'],
  ): Promise<void> {
    const maxAttempts = this.options.mfaChallengeMaxAttempts ?? DEFAULT_MFA_CHALLENGE_MAX_ATTEMPTS;
    await this.#recordFailure(user.id, attempt, client, reason === 'replayed' ? 'replayed_mfa_code' : 'wrong_mfa_code', {
      organizationId: challenge.organizationId,
      details: { challengeId: challenge.id, purpose: challenge.purpose },
      alongside: this.challenges.recordFailedAttempt(challenge.id, maxAttempts),
    });
  }

  async #throttleCheck(attempt: { email: string; ip?: string }): Promise<void> {
    await this.throttle.check(attempt).catch((error: unknown) => {
      // Fail open on a Redis outage only: the Postgres lockout stays the exact per-account bound.
      if (error instanceof StoreUnavailableError) return this.logger.warn('login throttle unavailable; relying on the Postgres lockout', { error });
      throw error;
    });
  }

  /** The challenge, its user, and the throttle/account checks every second-factor attempt passes first. */
  async #openChallenge(
    token: string,
    purpose: 'sign_in' | 'enrollment',
    client: ParsedClientContext,
  ): Promise<{ challenge: MfaChallengeRecord; user: UserRecord; attempt: { email: string; ip?: string } }> {
    const challenge = await this.challenges.findActive(token, purpose);
    const user = await this.users.getById(challenge.userId);
    if (!user) throw new TokenError('invalid', 'Unknown MFA challenge');
    const attempt = { email: user.email, ...(client.ip === undefined ? {} : { ip: client.ip }) };
    await this.#throttleCheck(attempt);
    // Re-checked: the account may have been locked (wrong codes) or suspended since the password step.
    this.#assertMaySignIn(user);
    return { challenge, user, attempt };
  }

  async #finishMfaSignIn(
    user: UserRecord,
    challenge: MfaChallengeRecord,
    client: ParsedClientContext,
    method: 'totp' | 'recovery_code' | 'totp_enrollment',
  ): Promise<SignedInResult> {
    // Single use: of two completions racing with two valid codes, one gets the session.
    if (!(await this.challenges.consume(challenge.id))) throw new TokenError('consumed', 'MFA challenge was already used');
    const [unlocked, risk] = await Promise.all([this.users.recordSuccessfulLogin(user.id, client.ip), this.#loginRisk(user, client)]);
    if (!unlocked) throw new InvalidCredentialsError();
    const [result] = await Promise.all([
      // Resolved again for THIS client: the IP allow-list applies to the address that finishes the sign-in.
      this.issuer.issue(user, client, challenge.organizationId, {
        via: 'mfa',
        mfaVerified: true,
        audit: (sessionId, organizationId) => [
          loginSucceeded(user, client, risk, organizationId, { sessionId, mfa: method }),
          ...(method === 'recovery_code'
            ? [{ eventType: 'auth.mfa.recovery_code_used', organizationId, actorUserId: user.id, riskScore: 40, details: {} } satisfies AuditEventInput]
            : []),
        ],
      }),
      this.throttle.reset({ email: user.email }).catch((error: unknown) => this.logger.warn('login throttle reset failed', { error })),
    ]);
    return { status: 'signed_in', ...result };
  }

  async #assertNewPassword(password: string, context: PasswordCheckContext, options: PasswordPolicyInput): Promise<void> {
    try {
      await this.policy.assert(password, context, options);
    } catch (error) {
      // The policy reports under `password`; this method's field is `newPassword`.
      if (error instanceof ValidationError) throw new ValidationError(error.issues.map((i) => ({ ...i, path: 'newPassword' })));
      throw error;
    }
  }

  /** Revokes every active session of the user except `keepSessionId` (Postgres, then Redis, per session). */
  async #revokeOtherSessions(userId: string, keepSessionId: string): Promise<number> {
    let revoked = 0;
    let after: string | undefined;
    do {
      const page = await this.sessions.listActiveForUser(userId, { limit: 100, ...(after === undefined ? {} : { after }) });
      const others = page.items.filter((s) => s.id !== keepSessionId);
      const results = await Promise.all(others.map((s) => this.revoker.revokeSession(s.id, 'password_changed')));
      revoked += results.filter(Boolean).length;
      after = page.nextCursor;
    } while (after !== undefined);
    return revoked;
  }

  /**
   * Hot path: at most once per {@link ACTIVITY_WRITE_INTERVAL_MS} per session
   * and process, write the activity back in the background. Costs a map
   * lookup per hit; the answer never waits for it.
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

  async #onReuse(error: RefreshTokenReusedError): Promise<void> {
    // Postgres already revoked family and session, queued the Redis half and wrote the audit event (one transaction); now Redis.
    try {
      await this.revoker.evictSession({
        id: error.sessionId,
        userId: error.userId,
        accessTokenJti: error.accessTokenJti,
        expiresAt: error.sessionExpiresAt,
        cacheRevocationId: error.cacheRevocationId,
      });
    } catch (evictError) {
      this.logger.error('refresh-token reuse: Redis eviction failed; Postgres is revoked', { sessionId: error.sessionId, error: evictError });
    }
  }

  async #audit(event: AuditEventInput): Promise<void> {
    // Auditing must not turn a correct answer into an error for the caller; a lost event is logged loudly.
    await this.audit.record(event).catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: event.eventType, error }));
  }
}

/** `auth.refresh.reuse_detected`, written in the transaction that revokes the family (RefreshTokenRepository.rotate). */
function reuseDetected(error: RefreshTokenReusedError, client: ParsedClientContext): AuditEventInput {
  return {
    eventType: 'auth.refresh.reuse_detected',
    organizationId: error.organizationId,
    actorUserId: error.userId,
    ip: client.ip ?? null,
    userAgent: client.userAgent ?? null,
    riskScore: REFRESH_REUSE_RISK,
    details: { sessionId: error.sessionId, familyId: error.familyId, revokedTokens: error.revokedTokens, sessionRevoked: error.sessionRevoked },
  };
}

/** `auth.login.succeeded`, written in the new session's transaction (SessionIssuer). */
function loginSucceeded(
  user: UserRecord,
  client: ParsedClientContext,
  risk: { score: number; newIp: boolean; newDevice: boolean },
  organizationId: string,
  details: { sessionId: string; mfa?: string },
): AuditEventInput {
  return {
    eventType: 'auth.login.succeeded',
    organizationId,
    actorUserId: user.id,
    ...clientAuditFields(client),
    riskScore: risk.score,
    details: { ...details, newIp: risk.newIp, newDevice: risk.newDevice, recentFailures: user.failedLoginCount },
  };
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
