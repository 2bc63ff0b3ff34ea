import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { RateLimitedError, TokenError, ValidationError } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { VerificationTokenRepository, type VerificationPurpose } from '../../postgres/repositories/verification-token-repository.js';
import { RateLimiter } from '../../redis/repositories/rate-limiter.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { PasswordPolicy, type PasswordPolicyInput } from '../../security/password-policy.js';
import { AUTH_FLOW_OPTIONS, AUTH_NOTIFIER, LIFECYCLE, LOGGER } from '../../tokens.js';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import type { AuthNotifier } from '../../auth-notifier.js';
import { clientContextSchema, type ClientContext } from './client-context.js';
import { SessionRevoker } from './session-revoker.js';
import { StrictestPasswordPolicy } from './strictest-password-policy.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** The same answer whether or not the email has an account. */
export interface EmailRequestAccepted {
  readonly accepted: true;
}

const ACCEPTED: EmailRequestAccepted = Object.freeze({ accepted: true });
const HOUR_MS = 3_600_000;
const tokenInput = z.string().min(1).max(512);

/**
 * Email verification and password reset, both on one-time tokens (SHA-256
 * stored, consumed once by a single atomic UPDATE).
 *
 * No user enumeration: `requestPasswordReset` answers the same for known and
 * unknown emails, and does the lookup, token creation and delivery **after**
 * answering (tracked, and awaited on platform stop), so neither the result
 * nor the response time says whether the email has an account.
 */
@injectable()
@accessControlled
export class VerificationService {
  readonly #pending = new Set<Promise<void>>();

  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(StrictestPasswordPolicy) private readonly strictest: StrictestPasswordPolicy,
    @inject(VerificationTokenRepository) private readonly tokens: VerificationTokenRepository,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(PasswordPolicy) private readonly policy: PasswordPolicy,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
    @inject(RateLimiter) private readonly limiter: RateLimiter,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(AUTH_NOTIFIER) private readonly notifier: AuthNotifier,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(LIFECYCLE) lifecycle: Lifecycle,
    @inject(LOGGER) private readonly logger: Logger,
  ) {
    lifecycle.onStop('verification-service', () => this.settled());
  }

  /**
   * Sends a password-reset link if the email has an account that may reset.
   * @throws ValidationError naming `email` / `context.*`
   * @throws RateLimitedError when the client IP asked too often (same for known and unknown emails)
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/VerificationService, which check the caller first' })
  async requestPasswordReset(email: string, context: ClientContext = {}): Promise<EmailRequestAccepted> {
    const d = parseInput(z.object({ email: z.email().max(320), context: clientContextSchema }), { email, context });
    await this.#limitIp(d.context.ip, 'password_reset');
    this.#background(async () => {
      const credentials = await this.users.findCredentialsByEmail(d.email);
      // Suspended and deleted accounts get nothing: a reset must not become a way around an admin decision.
      if (!credentials || credentials.user.status === 'suspended' || credentials.user.status === 'deleted') return;
      await this.#send(credentials.user, 'password_reset');
    });
    return ACCEPTED;
  }

  /**
   * Sets a new password with a reset token: consumed once, then the policy
   * (including the email and the last N passwords) and every session of the
   * user revoked (Postgres, then Redis) — whoever had the old password is out.
   *
   * The default rules (length, classes, breached list) are checked before the
   * token is consumed, so a too-weak password does not burn the link; the
   * account-specific ones (the strictest policy of the user's organizations,
   * contains the email, reused) can only be checked after, and then the user
   * needs a new link.
   * @throws ValidationError naming `token` / `newPassword` (issues carry the broken rules as codes)
   * @throws TokenError `invalid` / `consumed` / `expired`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/VerificationService, which check the caller first' })
  async resetPassword(token: string, newPassword: string): Promise<{ userId: string; revokedSessions: number }> {
    const d = parseInput(z.object({ token: tokenInput, newPassword: z.string().min(1).max(1024) }), { token, newPassword });
    await this.#assertPassword(d.newPassword, {});
    const consumed = await this.tokens.consume('password_reset', d.token);
    const user = await this.users.getById(consumed.userId);
    if (!user || user.status === 'deleted' || user.status === 'suspended') throw new TokenError('invalid', 'Reset token is no longer valid');
    const { historyDepth } = await this.strictest.assertNewPassword(user, d.newPassword);
    await this.accounts.changePassword(user.id, await this.hasher.hash(d.newPassword), historyDepth, {
      events: [{ eventType: 'auth.password.reset', actorUserId: user.id, riskScore: 30, details: {} }],
    });
    // Each revoked session has its own `auth.session.revoked` event, written with the revocation.
    const revokedSessions = await this.revoker.revokeAllForUser(user.id, 'password_reset');
    return { userId: user.id, revokedSessions };
  }

  /**
   * Sends an email-verification link to a user whose email is unverified (no-op otherwise).
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/VerificationService, which check the caller first' })
  async requestEmailVerification(userId: string): Promise<EmailRequestAccepted> {
    const id = parseInput(z.uuid(), userId, 'userId');
    const user = await this.users.getById(id);
    if (user && user.emailVerifiedAt === null && user.status === 'pending_verification') await this.#send(user, 'email_verification');
    return ACCEPTED;
  }

  /**
   * Consumes an email-verification token and activates a pending account.
   * @throws ValidationError naming `token`; TokenError `invalid` / `consumed` / `expired`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/VerificationService, which check the caller first' })
  async verifyEmail(token: string): Promise<UserRecord> {
    const t = parseInput(tokenInput, token, 'token');
    const consumed = await this.tokens.consume('email_verification', t);
    const user = await this.users.getById(consumed.userId);
    if (!user) throw new TokenError('invalid', 'Verification token is no longer valid');
    // Only a pending account becomes active; a suspended one stays suspended.
    const verified = user.status === 'pending_verification' ? await this.users.setStatus(user.id, 'active') : user;
    await this.#audit({ eventType: 'auth.email.verified', actorUserId: user.id, details: {} });
    return verified;
  }

  /** Resolves when every background request has finished (platform stop awaits it; tests use it). */
  @declareAccess({ systemJob: 'tests and shutdown wait for queued notifications' })
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async #send(user: UserRecord, purpose: VerificationPurpose): Promise<void> {
    const { token, verificationToken } = await this.tokens.create(user.id, purpose);
    const message = { userId: user.id, email: user.email, token, expiresAt: verificationToken.expiresAt };
    await (purpose === 'password_reset' ? this.notifier.passwordReset(message) : this.notifier.emailVerification(message));
  }

  async #assertPassword(password: string, context: { email?: string; previousHashes?: readonly string[] }, options: PasswordPolicyInput = {}): Promise<void> {
    try {
      await this.policy.assert(password, context, options);
    } catch (error) {
      // The policy reports under `password`; this method's field is `newPassword`.
      if (error instanceof ValidationError) throw new ValidationError(error.issues.map((i) => ({ ...i, path: 'newPassword' })));
      throw error;
    }
  }

  async #limitIp(ip: string | undefined, scope: string): Promise<void> {
    if (ip === undefined) return;
    const result = await this.limiter.consumeForIp(ip, scope, { limit: this.options.emailRequestsPerHourPerIp, windowMs: HOUR_MS });
    if (!result.allowed) throw new RateLimitedError('Too many requests', result.retryAfterMs, result.limit);
  }

  #background(work: () => Promise<void>): void {
    const run = work()
      .catch((error: unknown) => this.logger.error('background email request failed', { error }))
      .finally(() => this.#pending.delete(run));
    this.#pending.add(run);
  }

  async #audit(event: { eventType: string; actorUserId: string; riskScore?: number; details: Record<string, number | string | boolean> }): Promise<void> {
    await this.audit.record(event).catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: event.eventType, error }));
  }
}
