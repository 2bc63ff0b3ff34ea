import { inject, injectable } from 'tsyringe';
import { AccountStateError, InvalidCredentialsError, StoreUnavailableError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import type { AuditEventInput } from '../../postgres/repositories/audit-repository.js';
import { SessionRepository } from '../../postgres/repositories/session-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { LoginThrottle } from '../../redis/repositories/login-throttle.js';
import { LockoutPolicy } from '../../security/lockout-policy.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { AUTH_FLOW_OPTIONS, LOGGER } from '../../tokens.js';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import { clientAuditFields, type ParsedClientContext } from './client-context.js';
import { scoreFailedLoginRisk, scoreLoginRisk } from './login-risk.js';
import { PasswordGate, type LockoutState } from './password-gate.js';
import type { SignInResult } from './session-issuer.js';

/** One sign-in attempt as the throttle counts it: per account (as named: email or username) and per client IP. */
export interface SignInAttempt {
  /** The account as the sign-in named it: an email, or a username (password sign-in accepts both). */
  readonly email: string;
  readonly ip?: string;
}

/** Why a sign-in step failed; for the audit log only (the caller's error never says). */
export type SignInFailureReason = 'wrong_password' | 'unknown_account' | 'locked' | 'wrong_current_password' | 'wrong_mfa_code' | 'replayed_mfa_code';

/** Where the failure is recorded and what else runs beside it. */
export interface SignInFailureOptions {
  readonly organizationId?: string;
  readonly details?: Record<string, unknown>;
  /** Work that belongs to the failure (e.g. the MFA challenge's counter), run beside it. */
  readonly alongside?: Promise<unknown>;
  /** The lockout state when a password check counted the failure already (PasswordGate). */
  readonly counted?: Partial<LockoutState>;
}

/**
 * Builds the `auth.login.succeeded` event for the new session (details: `sessionId`, `mfa` when a second factor
 * finished it, `via: 'password_change'` when a required password change did).
 */
export type LoginSucceededEvent = (
  sessionId: string,
  organizationId: string,
  details?: { readonly mfa?: string | boolean; readonly via?: 'password_change' },
) => AuditEventInput;

/**
 * The bookkeeping every sign-in path shares (password, second factor,
 * password change), written once: the Redis throttle check, the attempt key,
 * the account-state rules, failure counting and its audit event, and — when
 * a sign-in is accepted — the lockout race check, the risk score, the
 * `auth.login.succeeded` event (handed to the session's transaction) and the
 * throttle reset.
 */
@injectable()
@accessControlled
export class SignInBookkeeping {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(SessionRepository) private readonly sessions: SessionRepository,
    @inject(LoginThrottle) private readonly throttle: LoginThrottle,
    @inject(PasswordGate) private readonly gate: PasswordGate,
    @inject(LockoutPolicy) private readonly lockout: LockoutPolicy,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The throttle's key for this email and client. */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  attemptFor(email: string, client: ParsedClientContext): SignInAttempt {
    return { email, ...(client.ip === undefined ? {} : { ip: client.ip }) };
  }

  /**
   * The Redis throttle, before anything costs PostgreSQL or bcrypt. Fails open
   * on a Redis outage only: the PostgreSQL lockout stays the exact per-account bound.
   * @throws RateLimitedError (with `retryAfterMs`) when the account or IP is throttled
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async checkThrottle(attempt: SignInAttempt): Promise<void> {
    await this.throttle.check(attempt).catch((error: unknown) => {
      if (error instanceof StoreUnavailableError) return this.logger.warn('login throttle unavailable; relying on the Postgres lockout', { error });
      throw error;
    });
  }

  /**
   * The account-state rules, told only after a correct password (a running lockout excepted: no password oracle).
   * A required password change is not refused here: the password sign-in answers it with a ticket
   * (`PasswordChangeTickets`), after the second factor when one is due.
   * @throws AccountStateError `deleted` / `suspended` / `locked` / `pending_verification`
   * @throws InvalidCredentialsError while the lockout runs
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  assertMaySignIn(user: UserRecord): void {
    if (user.status === 'deleted' || user.deletedAt !== null) throw new AccountStateError('deleted');
    if (user.status === 'suspended') throw new AccountStateError('suspended');
    if (user.status === 'locked') throw new AccountStateError('locked');
    // A running lockout is told to nobody but the owner (AuthNotifier.accountLocked).
    if (this.lockout.isLocked(user.lockedUntil)) throw new InvalidCredentialsError();
    if (user.status === 'pending_verification' && this.options.requireVerifiedEmail) throw new AccountStateError('pending_verification');
  }

  /**
   * Counts a failed step (Redis throttle; PostgreSQL lockout unless a password check counted it) and audits it.
   * Never throws for Redis; the audit event goes through the batching writer (a failure changes no state worth a transaction).
   * @throws StoreUnavailableError when PostgreSQL could not count the failure
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async recordFailure(
    userId: string | undefined,
    attempt: SignInAttempt,
    client: ParsedClientContext,
    reason: SignInFailureReason,
    extra: SignInFailureOptions = {},
  ): Promise<void> {
    const [counts, lock] = await Promise.all([
      this.throttle.recordFailure(attempt).catch((error: unknown) => {
        this.logger.warn('login throttle unavailable; failure not counted in Redis', { error });
        return undefined;
      }),
      extra.counted ?? (userId === undefined ? undefined : this.gate.countFailure({ id: userId, email: attempt.email })),
      extra.alongside,
    ]);
    const failures = lock?.failedLoginCount ?? counts?.ip ?? counts?.account ?? 1;
    const event: AuditEventInput = {
      eventType: reason === 'wrong_mfa_code' || reason === 'replayed_mfa_code' ? 'auth.login.mfa_failed' : 'auth.login.failed',
      organizationId: extra.organizationId ?? null,
      actorUserId: userId ?? null,
      ...clientAuditFields(client),
      riskScore: scoreFailedLoginRisk(failures),
      outcome: 'failure',
      failureReason: reason,
      // The audit log is internal, so it may say why; the caller's error never does.
      details: { reason, failures, locked: lock?.lockedUntil != null, ...extra.details },
    };
    // Auditing must not turn a correct answer into an error for the caller; a lost event is logged loudly.
    await this.audit.record(event).catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: event.eventType, error }));
  }

  /**
   * Accepts a sign-in whose credentials (and second factor, if due) were right:
   * clears the lockout counter unless a concurrent failure series locked the
   * account meanwhile (then answered like a wrong password), scores the risk
   * from the sessions that exist before this one, and runs `issue` with the
   * `auth.login.succeeded` event builder beside the throttle reset and `alongside`.
   * @throws InvalidCredentialsError when the lockout won the race; whatever `issue` throws
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async accept(
    user: UserRecord,
    client: ParsedClientContext,
    issue: (loginSucceeded: LoginSucceededEvent) => Promise<SignInResult>,
    alongside?: Promise<unknown>,
  ): Promise<SignInResult & { readonly status: 'signed_in' }> {
    return { status: 'signed_in', ...(await this.#accepted(user, client, issue, alongside)) };
  }

  /**
   * {@link accept} for a sign-in whose credentials were right but whose password must be changed first: the same
   * steps (lockout race, risk inputs, throttle reset — the same cost and timing as a sign-in), ending in
   * `issueTicket` instead of a session.
   * @throws InvalidCredentialsError when the lockout won the race; whatever `issueTicket` throws
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async acceptForPasswordChange<T>(user: UserRecord, client: ParsedClientContext, issueTicket: () => Promise<T>, alongside?: Promise<unknown>): Promise<T> {
    return this.#accepted(user, client, issueTicket, alongside);
  }

  async #accepted<T>(
    user: UserRecord,
    client: ParsedClientContext,
    issue: (loginSucceeded: LoginSucceededEvent) => Promise<T>,
    alongside: Promise<unknown> | undefined,
  ): Promise<T> {
    // Independent, one round-trip time: the lockout gate, and the sessions before this one (risk inputs).
    const [unlocked, risk] = await Promise.all([this.users.recordSuccessfulLogin(user.id, client.ip), this.#risk(user, client)]);
    if (!unlocked) throw new InvalidCredentialsError();
    const loginSucceeded: LoginSucceededEvent = (sessionId, organizationId, details = {}) => ({
      eventType: 'auth.login.succeeded',
      organizationId,
      actorUserId: user.id,
      ...clientAuditFields(client),
      riskScore: risk.score,
      outcome: 'success',
      details: { sessionId, ...details, newIp: risk.newIp, newDevice: risk.newDevice, recentFailures: user.failedLoginCount },
    });
    // From here the sign-in is accepted: the throttle reset never fails it, so it runs beside the session issue.
    const [result] = await Promise.all([
      issue(loginSucceeded),
      // Both names of the account: a sign-in by username counted its failures under the username.
      Promise.all([user.email, ...(user.username === null ? [] : [user.username])].map((account) => this.throttle.reset({ email: account }))).catch(
        (error: unknown) => this.logger.warn('login throttle reset failed', { error }),
      ),
      alongside,
    ]);
    return result;
  }

  async #risk(user: UserRecord, client: ParsedClientContext): Promise<{ score: number; newIp: boolean; newDevice: boolean }> {
    const active = await this.sessions.listActiveForUser(user.id, { limit: 50 });
    const knownIps = new Set([user.lastLoginIp, ...active.items.map((s) => s.ip)].filter((v): v is string => v !== null));
    const knownDevices = new Set(active.items.map((s) => s.device).filter((v): v is string => v !== null));
    const newIp = client.ip !== undefined && !knownIps.has(client.ip);
    const newDevice = client.deviceId !== undefined && !knownDevices.has(client.deviceId);
    const score = scoreLoginRisk({ hasHistory: user.lastLoginAt !== null, newIp, newDevice, recentFailures: user.failedLoginCount });
    return { score, newIp, newDevice };
  }
}
