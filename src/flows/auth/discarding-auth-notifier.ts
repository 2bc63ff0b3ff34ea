import { inject, injectable } from 'tsyringe';
import type { AccountLockedNotice, AccountNotice, AuthMessage, AuthNotifier } from '../../auth-notifier.js';
import type { Logger } from '../../logger.js';
import { LOGGER } from '../../tokens.js';

/**
 * The default notifier: delivers nothing and logs that a message was dropped
 * (without the token), so a platform without a mail integration fails visibly
 * in its logs instead of silently.
 */
@injectable()
export class DiscardingAuthNotifier implements AuthNotifier {
  constructor(@inject(LOGGER) private readonly logger: Logger) {}

  async passwordReset(message: AuthMessage): Promise<void> {
    this.logger.warn('no AuthNotifier registered: password-reset link dropped', { userId: message.userId });
  }

  async emailVerification(message: AuthMessage): Promise<void> {
    this.logger.warn('no AuthNotifier registered: verification link dropped', { userId: message.userId });
  }

  async accountLocked(notice: AccountLockedNotice): Promise<void> {
    this.logger.warn('no AuthNotifier registered: account-locked notice dropped', { userId: notice.userId });
  }

  async signUpWithExistingEmail(notice: AccountNotice): Promise<void> {
    this.logger.warn('no AuthNotifier registered: sign-up-with-existing-email notice dropped', { userId: notice.userId });
  }
}
