import { createHash, randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { OutboxRepository } from '../../postgres/repositories/outbox-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { AccountLockedNotice, AccountNotice, AuthMessage, AuthNotifier } from '../../auth-notifier.js';

/** The topics the auth flows' emails have in the outbox. */
export const AUTH_OUTBOX_TOPICS = {
  passwordReset: 'auth.password_reset',
  emailVerification: 'auth.email_verification',
  accountLocked: 'auth.account_locked',
  signUpWithExistingEmail: 'auth.sign_up_with_existing_email',
} as const;

const tokenId = (token: string): string => createHash('sha256').update(token).digest('base64url').slice(0, 22);

/**
 * An {@link AuthNotifier} that writes every auth email to the transactional
 * outbox (kind `email`, aggregate `user`/<userId>, so one user's emails go out
 * in order); the {@link OutboxRelay} hands them to the application's
 * `OutboxEmailSender` with retries. The payload — which holds the one-time
 * link token — is a SecretBox envelope at rest.
 *
 * Register it with `container.registerSingleton(AUTH_NOTIFIER, OutboxAuthNotifier)`.
 * The auth flows call the notifier after their change committed, so each
 * message is written in a transaction of its own right after it.
 */
@injectable()
@accessControlled
export class OutboxAuthNotifier implements AuthNotifier {
  constructor(@inject(OutboxRepository) private readonly outbox: OutboxRepository) {}

  /** Queues the password-reset email (idempotency key derived from the token: a retried call queues it once). */
  @declareAccess({ systemJob: 'the auth flows notify after their change committed' })
  async passwordReset(message: AuthMessage): Promise<void> {
    await this.#queue(AUTH_OUTBOX_TOPICS.passwordReset, message.userId, `${AUTH_OUTBOX_TOPICS.passwordReset}:${tokenId(message.token)}`, {
      to: message.email,
      token: message.token,
      expiresAt: message.expiresAt.toISOString(),
    });
  }

  /** Queues the email-verification email. */
  @declareAccess({ systemJob: 'the auth flows notify after their change committed' })
  async emailVerification(message: AuthMessage): Promise<void> {
    await this.#queue(AUTH_OUTBOX_TOPICS.emailVerification, message.userId, `${AUTH_OUTBOX_TOPICS.emailVerification}:${tokenId(message.token)}`, {
      to: message.email,
      token: message.token,
      expiresAt: message.expiresAt.toISOString(),
    });
  }

  /** Queues the "your account was locked" notice (once per lock). */
  @declareAccess({ systemJob: 'the auth flows notify after their change committed' })
  async accountLocked(notice: AccountLockedNotice): Promise<void> {
    await this.#queue(AUTH_OUTBOX_TOPICS.accountLocked, notice.userId, `${AUTH_OUTBOX_TOPICS.accountLocked}:${notice.userId}:${notice.lockedUntil.getTime()}`, {
      to: notice.email,
      lockedUntil: notice.lockedUntil.toISOString(),
    });
  }

  /** Queues the "someone signed up with your address" notice. */
  @declareAccess({ systemJob: 'the auth flows notify after their change committed' })
  async signUpWithExistingEmail(notice: AccountNotice): Promise<void> {
    await this.#queue(AUTH_OUTBOX_TOPICS.signUpWithExistingEmail, notice.userId, `${AUTH_OUTBOX_TOPICS.signUpWithExistingEmail}:${randomUUID()}`, {
      to: notice.email,
    });
  }

  async #queue(topic: string, userId: string, idempotencyKey: string, payload: Record<string, unknown>): Promise<void> {
    await this.outbox.append([{ kind: 'email', topic, aggregateType: 'user', aggregateId: userId, idempotencyKey, payload }]);
  }
}
