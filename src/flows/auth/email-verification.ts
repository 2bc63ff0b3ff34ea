import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { TokenError } from '../../errors.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { AuditRepository } from '../../postgres/repositories/audit-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { VerificationTokenRepository } from '../../postgres/repositories/verification-token-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
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
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Sends an email-verification link to a user whose email is unverified (no-op otherwise).
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async requestEmailVerification(userId: string): Promise<EmailRequestAccepted> {
    const id = parseInput(uuidInput, userId, 'userId');
    const user = await this.users.getById(id);
    if (user && user.emailVerifiedAt === null && user.status === 'pending_verification') await this.links.send(user, 'email_verification');
    return EMAIL_REQUEST_ACCEPTED;
  }

  /**
   * Consumes an email-verification token and activates a pending account (any other status stays as it is),
   * with the `auth.email.verified` event — all in ONE transaction: a failure or a crash leaves the token
   * unspent and the account as it was, so the same link works again.
   * @throws ValidationError naming `token`; TokenError `invalid` / `consumed` / `expired`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async verifyEmail(token: string): Promise<UserRecord> {
    const t = parseInput(verificationTokenInput, token, 'token');
    const [, verified] = await this.tokens.consumeWith('email_verification', t, async (tx, consumed) => {
      const user = await this.users.activatePendingWithin(tx, consumed.userId);
      if (!user) throw new TokenError('invalid', 'Verification token is no longer valid');
      await this.audit.appendWithin(tx, [{ eventType: 'auth.email.verified', actorUserId: user.id, details: {} }]);
      return user;
    });
    return verified;
  }
}
