import { inject, injectable } from 'tsyringe';
import type { Logger } from '../logger.js';
import { LOGGER } from '../tokens.js';

/** A one-time link to deliver to the account's email address. */
export interface AuthMessage {
  readonly userId: string;
  readonly email: string;
  /** The plaintext one-time token: put it in the link, never log or store it. */
  readonly token: string;
  readonly expiresAt: Date;
}

/**
 * Delivers verification and password-reset links. The application supplies
 * the real one (email provider); the flows only decide *whether* to send.
 */
export interface AuthNotifier {
  passwordReset(message: AuthMessage): Promise<void>;
  emailVerification(message: AuthMessage): Promise<void>;
}

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
}
