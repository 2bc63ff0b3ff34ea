import { inject, injectable } from 'tsyringe';
import type { Logger } from '../../logger.js';
import { LoginAttemptRepository } from '../../postgres/repositories/login-attempt-repository.js';
import { UserRepository, type UserCredentials } from '../../postgres/repositories/user-repository.js';
import { LockoutPolicy } from '../../security/lockout-policy.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { LOGGER } from '../../tokens.js';
import { type AuthNotifier } from '../../auth-notifier.js';
import { AUTH_NOTIFIER } from '../../tokens.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** The account's lockout state after a failure was counted (or found). */
export interface LockoutState {
  readonly failedLoginCount: number;
  readonly lockedUntil: Date | null;
}

/**
 * What a password check found. The three failures must reach the caller as one
 * answer (`InvalidCredentialsError`); the reason is for the audit log only.
 */
export type PasswordVerdict =
  | { readonly ok: true; readonly passwordHash: string }
  | ({ readonly ok: false; readonly reason: 'unknown_account' } & Partial<LockoutState>)
  | ({ readonly ok: false; readonly reason: 'wrong_password' | 'locked' } & LockoutState);

/**
 * The password check under the account lockout (docs/security.md, "Lockout";
 * OWASP ASVS v4 2.2.1, NIST SP 800-63B 5.2.2):
 *
 * - an attempt is reserved in PostgreSQL **before** bcrypt runs, so a parallel
 *   burst evaluates at most `LOCKOUT_THRESHOLD` passwords before the lock;
 * - a locked account is not evaluated at all and answers like a wrong
 *   password, whatever the password, so the lock is no oracle;
 * - unknown and locked accounts cost the same dummy bcrypt as a wrong password;
 * - the owner is told through `AuthNotifier.accountLocked` when a failure locks the account.
 */
@injectable()
@accessControlled
export class PasswordGate {
  constructor(
    @inject(LoginAttemptRepository) private readonly attempts: LoginAttemptRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(LockoutPolicy) private readonly lockout: LockoutPolicy,
    @inject(AUTH_NOTIFIER) private readonly notifier: AuthNotifier,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Checks `password` for the account `credentials` describes (`undefined`: no such account).
   * A failure is already counted in PostgreSQL when this returns.
   * @throws ValidationError (password over bcrypt's 72 bytes); StoreUnavailableError
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async verify(credentials: UserCredentials | undefined, password: string): Promise<PasswordVerdict> {
    if (!credentials) {
      await this.hasher.verifyDummy(password);
      return { ok: false, reason: 'unknown_account' };
    }
    const { user, passwordHash } = credentials;
    const reservation = await this.attempts.reserve(user.id, this.lockout);
    if (!reservation) {
      // Read again: the lock may have been set after the lookup, by a concurrent attempt.
      const [latest] = await Promise.all([this.users.getById(user.id), this.hasher.verifyDummy(password)]);
      return {
        ok: false,
        reason: 'locked',
        failedLoginCount: latest?.failedLoginCount ?? user.failedLoginCount,
        lockedUntil: latest?.lockedUntil ?? user.lockedUntil,
      };
    }
    const matches = passwordHash !== null ? await this.hasher.verify(password, passwordHash) : await this.hasher.verifyDummy(password);
    if (matches && passwordHash !== null) {
      await this.attempts.refund(reservation);
      return { ok: true, passwordHash };
    }
    if (reservation.lockedUntil !== null) await this.#notifyLocked(user, reservation.lockedUntil);
    return { ok: false, reason: 'wrong_password', failedLoginCount: reservation.failedLoginCount, lockedUntil: reservation.lockedUntil };
  }

  /**
   * Counts a failure that is not a password check (a wrong or replayed MFA code)
   * and tells the owner when it locks the account.
   * @returns the new state, or `undefined` for an unknown user
   * @throws ValidationError; StoreUnavailableError
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async countFailure(user: { readonly id: string; readonly email: string }): Promise<LockoutState | undefined> {
    const state = await this.users.recordFailedLogin(user.id, this.lockout);
    // Exactly the threshold: the failure that started the lock (later ones during it count on).
    if (state?.lockedUntil && state.failedLoginCount === this.lockout.threshold) await this.#notifyLocked(user, state.lockedUntil);
    return state;
  }

  async #notifyLocked(user: { readonly id: string; readonly email: string }, lockedUntil: Date): Promise<void> {
    // The caller's answer does not depend on delivery; a lost notice is logged loudly.
    await this.notifier
      .accountLocked({ userId: user.id, email: user.email, lockedUntil })
      .catch((error: unknown) => this.logger.error('account-locked notice not delivered', { userId: user.id, error }));
  }
}
