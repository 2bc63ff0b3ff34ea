import { inject, injectable } from 'tsyringe';
import type { AuthMessage } from '../../auth-notifier.js';
import type { EmailChangeMessage, IdentityNotifier, SignInCodeMessage } from '../../identity-notifier.js';
import type { Logger } from '../../logger.js';
import { LOGGER } from '../../tokens.js';

/** The default: delivers nothing and logs that a message was dropped (without its secret). */
@injectable()
export class DiscardingIdentityNotifier implements IdentityNotifier {
  constructor(@inject(LOGGER) private readonly logger: Logger) {}

  async magicLink(message: AuthMessage): Promise<void> {
    this.logger.warn('no IdentityNotifier registered: magic link dropped', { userId: message.userId });
  }

  async signInCode(message: SignInCodeMessage): Promise<void> {
    this.logger.warn('no IdentityNotifier registered: sign-in code dropped', { userId: message.userId });
  }

  async emailChange(message: EmailChangeMessage): Promise<void> {
    this.logger.warn('no IdentityNotifier registered: email-change link dropped', { userId: message.userId, kind: message.kind });
  }
}
