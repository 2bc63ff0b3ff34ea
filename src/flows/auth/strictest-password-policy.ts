import { inject, injectable } from 'tsyringe';
import { parseInput, uuidInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { SecuritySettingsRepository } from '../../postgres/repositories/security-settings-repository.js';
import { BCRYPT_MAX_PASSWORD_BYTES } from '../../security/password-hasher.js';
import { PasswordPolicy, type PasswordCheckContext, type PasswordPolicyInput } from '../../security/password-policy.js';
import { ValidationError } from '../../errors.js';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import { AUTH_FLOW_OPTIONS } from '../../tokens.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** The password rules one user's new password must meet, and how many previous passwords it may not repeat. */
export interface UserPasswordPolicy {
  readonly options: PasswordPolicyInput;
  readonly historyDepth: number;
}

/**
 * One password serves every organization of the user, so it must satisfy the
 * strictest of their policies: the longest minimum, every character class any
 * of them requires, the deepest history. A user in no organization gets the
 * package defaults and `AuthFlowOptions.passwordHistoryDepth`. Shared by
 * password reset and password change, so both apply the same rule.
 */
@injectable()
@accessControlled
export class StrictestPasswordPolicy {
  constructor(
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(SecuritySettingsRepository) private readonly securitySettings: SecuritySettingsRepository,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(PasswordPolicy) private readonly policy: PasswordPolicy,
  ) {}

  /**
   * Checks a user's new password against {@link forUser}'s rules, the email,
   * and the current and last `historyDepth` passwords (the current one counts
   * as used: "changing" to it would change nothing).
   * @returns the history depth to keep when the password is stored
   * @throws ValidationError naming `newPassword` (issues carry the broken rules as codes)
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async assertNewPassword(user: { readonly id: string; readonly email: string }, newPassword: string): Promise<UserPasswordPolicy> {
    const rules = await this.forUser(user.id);
    const previousHashes = await this.accounts.recentPasswordHashes(user.id, rules.historyDepth);
    await this.#assert(newPassword, { email: user.email, previousHashes }, rules.options);
    return rules;
  }

  /**
   * Checks a new password against the package's default rules only (length, classes, breached
   * list) — what can be checked before the account is known, e.g. before a reset link is spent.
   * @throws ValidationError naming `newPassword` (issues carry the broken rules as codes)
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async assertDefaultRules(newPassword: string): Promise<void> {
    await this.#assert(newPassword, {});
  }

  async #assert(newPassword: string, context: PasswordCheckContext, options: PasswordPolicyInput = {}): Promise<void> {
    try {
      await this.policy.assert(newPassword, context, options);
    } catch (error) {
      // The policy reports under `password`; the flows' field is `newPassword`.
      if (error instanceof ValidationError) throw new ValidationError(error.issues.map((i) => ({ ...i, path: 'newPassword' })));
      throw error;
    }
  }

  /** @throws ValidationError naming `userId` */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async forUser(userId: string): Promise<UserPasswordPolicy> {
    const id = parseInput(uuidInput, userId, 'userId');
    const memberships = await this.accounts.listMemberships(id);
    const all = await Promise.all(memberships.map((m) => this.securitySettings.getForOrganization(m.organizationId)));
    if (all.length === 0) return { options: {}, historyDepth: this.options.passwordHistoryDepth };
    const minLength = Math.min(BCRYPT_MAX_PASSWORD_BYTES, Math.max(...all.map((s) => s.passwordMinLength)));
    return {
      options: {
        minLength,
        maxLength: Math.max(64, minLength),
        requireLowercase: all.some((s) => s.passwordRequireLowercase),
        requireUppercase: all.some((s) => s.passwordRequireUppercase),
        requireDigit: all.some((s) => s.passwordRequireDigit),
        requireSymbol: all.some((s) => s.passwordRequireSymbol),
      },
      historyDepth: Math.max(...all.map((s) => s.passwordHistoryCount)),
    };
  }
}
