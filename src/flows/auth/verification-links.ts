import { inject, injectable } from 'tsyringe';
import type { AuthNotifier } from '../../auth-notifier.js';
import type { UserRecord } from '../../postgres/repositories/user-repository.js';
import { VerificationTokenRepository, type VerificationPurpose } from '../../postgres/repositories/verification-token-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { AUTH_NOTIFIER } from '../../tokens.js';

/**
 * Mails a one-time link (password reset, email verification): a new token
 * (SHA-256 stored, the user's older live token of the purpose replaced) handed
 * to the `AuthNotifier` once. Shared by `PasswordResetRequest` and `EmailVerification`.
 */
@injectable()
@accessControlled
export class VerificationLinks {
  constructor(
    @inject(VerificationTokenRepository) private readonly tokens: VerificationTokenRepository,
    @inject(AUTH_NOTIFIER) private readonly notifier: AuthNotifier,
  ) {}

  /** @throws StoreUnavailableError; whatever the notifier throws */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async send(user: UserRecord, purpose: VerificationPurpose): Promise<void> {
    const { token, verificationToken } = await this.tokens.create(user.id, purpose);
    const message = { userId: user.id, email: user.email, token, expiresAt: verificationToken.expiresAt };
    await (purpose === 'password_reset' ? this.notifier.passwordReset(message) : this.notifier.emailVerification(message));
  }
}
