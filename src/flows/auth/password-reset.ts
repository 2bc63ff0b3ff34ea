import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { TokenError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { VerificationTokenRepository } from '../../postgres/repositories/verification-token-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { verificationTokenInput } from './email-verification.js';
import { SessionRevoker, type RevocationWithin } from './session-revoker.js';
import { StrictestPasswordPolicy } from './strictest-password-policy.js';

/**
 * Sets a new password with a reset link from `PasswordResetRequest`: the token
 * is consumed once (SHA-256 stored, one atomic UPDATE), the password checked
 * and stored, and every session of the user revoked.
 */
@injectable()
@accessControlled
export class PasswordReset {
  constructor(
    @inject(VerificationTokenRepository) private readonly tokens: VerificationTokenRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(StrictestPasswordPolicy) private readonly strictest: StrictestPasswordPolicy,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
  ) {}

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
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async resetPassword(token: string, newPassword: string): Promise<{ userId: string; revokedSessions: number }> {
    const d = parseInput(z.object({ token: verificationTokenInput, newPassword: z.string().min(1).max(1024) }), { token, newPassword });
    await this.strictest.assertDefaultRules(d.newPassword);
    const consumed = await this.tokens.consume('password_reset', d.token);
    const user = await this.users.getById(consumed.userId);
    if (!user || user.status === 'deleted' || user.status === 'suspended') throw new TokenError('invalid', 'Reset token is no longer valid');
    const { historyDepth } = await this.strictest.assertNewPassword(user, d.newPassword);
    const hash = await this.hasher.hash(d.newPassword);
    // The sessions the reset ends are revoked in its transaction (each with its `auth.session.revoked` event):
    // no crash can leave the new password in place and the old sessions live. Their Redis half follows the commit.
    let revocation: RevocationWithin | undefined;
    await this.accounts.changePassword(user.id, hash, historyDepth, {
      events: [{ eventType: 'auth.password.reset', actorUserId: user.id, riskScore: 30, details: {} }],
      within: async (tx) => {
        revocation = await this.revoker.revokeAllForUserWithin(tx, user.id, 'password_reset');
      },
    });
    await revocation?.evict();
    return { userId: user.id, revokedSessions: revocation?.revoked ?? 0 };
  }
}
