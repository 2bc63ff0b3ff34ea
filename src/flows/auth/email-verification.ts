import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { TokenError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { VerificationTokenRepository } from '../../postgres/repositories/verification-token-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { LOGGER } from '../../tokens.js';
import { recordAuditEvent } from '../record-audit-event.js';
import { EMAIL_REQUEST_ACCEPTED, type EmailRequestAccepted } from './email-request-accepted.js';
import { VerificationLinks } from './verification-links.js';

export const verificationTokenInput = z.string().min(1).max(512);

/** Email verification on one-time tokens (SHA-256 stored, consumed once by a single atomic UPDATE). */
@injectable()
@accessControlled
export class EmailVerification {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(VerificationTokenRepository) private readonly tokens: VerificationTokenRepository,
    @inject(VerificationLinks) private readonly links: VerificationLinks,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Sends an email-verification link to a user whose email is unverified (no-op otherwise).
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async requestEmailVerification(userId: string): Promise<EmailRequestAccepted> {
    const id = parseInput(z.uuid(), userId, 'userId');
    const user = await this.users.getById(id);
    if (user && user.emailVerifiedAt === null && user.status === 'pending_verification') await this.links.send(user, 'email_verification');
    return EMAIL_REQUEST_ACCEPTED;
  }

  /**
   * Consumes an email-verification token and activates a pending account.
   * @throws ValidationError naming `token`; TokenError `invalid` / `consumed` / `expired`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async verifyEmail(token: string): Promise<UserRecord> {
    const t = parseInput(verificationTokenInput, token, 'token');
    const consumed = await this.tokens.consume('email_verification', t);
    const user = await this.users.getById(consumed.userId);
    if (!user) throw new TokenError('invalid', 'Verification token is no longer valid');
    // Only a pending account becomes active; a suspended one stays suspended.
    const verified = user.status === 'pending_verification' ? await this.users.setStatus(user.id, 'active') : user;
    await recordAuditEvent(this.audit, this.logger, { eventType: 'auth.email.verified', actorUserId: user.id, details: {} });
    return verified;
  }
}
