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
 * Sets a new password with a reset link from `PasswordResetRequest`: the
 * password checked and hashed, then ONE transaction consumes the token
 * (SHA-256 stored, one atomic UPDATE), stores the password and revokes every
 * session of the user.
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
   * Sets a new password with a reset token: the policy (including the email
   * and the last N passwords), then the token consumed once, the password
   * stored and every session of the user revoked in one transaction (Redis
   * after the commit) — whoever had the old password is out.
   *
   * Every rule (length, classes, breached list, the strictest policy of the
   * user's organizations, contains the email, reused) is checked and the bcrypt
   * hash computed before the transaction opens (none is held through bcrypt),
   * against the live token's user; a refused password does not spend the link.
   * A failure or a crash in the transaction leaves the token unspent and the
   * old password in place.
   * @throws ValidationError naming `token` / `newPassword` (issues carry the broken rules as codes)
   * @throws TokenError `invalid` / `consumed` / `expired`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async resetPassword(token: string, newPassword: string): Promise<{ userId: string; revokedSessions: number }> {
    const d = parseInput(z.object({ token: verificationTokenInput, newPassword: z.string().min(1).max(1024) }), { token, newPassword });
    await this.strictest.assertDefaultRules(d.newPassword);
    // Read, not spent: the token is consumed in the change's transaction, after bcrypt.
    const live = await this.tokens.findActive('password_reset', d.token);
    const user = await this.users.getById(live.userId);
    if (!user || user.status === 'deleted' || user.status === 'suspended') throw new TokenError('invalid', 'Reset token is no longer valid');
    const { historyDepth } = await this.strictest.assertNewPassword(user, d.newPassword);
    const hash = await this.hasher.hash(d.newPassword);
    // The token and the sessions the reset ends (each with its `auth.session.revoked` event) go in its transaction:
    // no crash can spend the link without the change, or leave the new password with the old sessions live.
    // Of two resets racing with one link, the second waits on the user's row lock and then finds the token spent.
    // The Redis half follows the commit.
    let revocation: RevocationWithin | undefined;
    const changed = await this.accounts.changePassword(user.id, hash, historyDepth, {
      events: [{ eventType: 'auth.password.reset', actorUserId: user.id, riskScore: 30, details: {} }],
      within: async (tx) => {
        const consumed = await this.tokens.consumeWithin(tx, 'password_reset', d.token);
        if (consumed.userId !== user.id) throw new TokenError('invalid', 'Reset token is no longer valid');
        revocation = await this.revoker.revokeAllForUserWithin(tx, user.id, 'password_reset');
      },
    });
    if (!changed) throw new TokenError('invalid', 'Reset token is no longer valid');
    await revocation?.evict();
    return { userId: user.id, revokedSessions: revocation?.revoked ?? 0 };
  }
}
