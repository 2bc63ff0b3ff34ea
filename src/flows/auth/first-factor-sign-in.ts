import { inject, injectable } from 'tsyringe';
import { AccountStateError } from '../../errors.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { AUTH_FLOW_OPTIONS } from '../../tokens.js';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import type { ParsedClientContext } from './client-context.js';
import { loginSucceededAudit } from './login-succeeded-audit.js';
import { MfaService, secondFactorDue, type MfaChallengeResult, type MfaEnrollmentRequiredResult } from './mfa-service.js';
import { SessionIssuer, type SignInResult } from './session-issuer.js';

/** What a passwordless or passkey sign-in returns: the session, or (second factor due) a challenge and no session. */
export type FirstFactorSignInResult = (SignInResult & { readonly status: 'signed_in' }) | MfaChallengeResult | MfaEnrollmentRequiredResult;

/** How the first factor was proven, for the audit event. */
export type FirstFactorMethod = 'magic_link' | 'email_code' | 'passkey';

/**
 * The end every non-password first factor shares (magic link, email code,
 * passkey): the account's state, the organization's rules (membership, IP
 * allow-list), the second factor when due — `MfaService.startSignInChallenge`,
 * finished by the usual `completeMfaLogin` — then the session, with
 * `auth.login.succeeded` (`details.method`) in the session's transaction.
 */
@injectable()
@accessControlled
export class FirstFactorSignIn {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(SessionIssuer) private readonly issuer: SessionIssuer,
    @inject(MfaService) private readonly mfa: MfaService,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
  ) {}

  /**
   * @param mfaSatisfied the first factor is itself multi-factor (a passkey with user verification: NIST SP 800-63B 5.1.8/5.1.9)
   * @throws AccountStateError `deleted` / `suspended` / `locked` / `pending_verification` / `password_change_required`
   * @throws TenantAccessError when the user belongs to no (such) organization, or the IP is not allowed
   */
  @declareAccess({ preTenant: 'authentication: runs after a first factor was verified, before any caller is known' })
  async complete(
    user: UserRecord,
    client: ParsedClientContext,
    method: FirstFactorMethod,
    options: { readonly organizationId?: string | undefined; readonly mfaSatisfied: boolean },
  ): Promise<FirstFactorSignInResult> {
    if (user.status === 'deleted' || user.deletedAt !== null) throw new AccountStateError('deleted');
    if (user.status === 'suspended') throw new AccountStateError('suspended');
    if (user.status === 'locked') throw new AccountStateError('locked');
    if (user.status === 'pending_verification' && this.options.requireVerifiedEmail) throw new AccountStateError('pending_verification');
    if (user.mustChangePassword) throw new AccountStateError('password_change_required');
    const target = await this.issuer.resolveTarget(user, client, options.organizationId);
    const due = options.mfaSatisfied ? undefined : secondFactorDue(await this.mfa.isEnabled(user.id), target.settings);
    if (due !== undefined) return this.mfa.startSignInChallenge(user, target.membership.organizationId, due, client, { via: method });
    // A running lockout (wrong passwords) is not lifted by another factor: the owner waits it out.
    if (!(await this.users.recordSuccessfulLogin(user.id, client.ip))) throw new AccountStateError('locked', user.lockedUntil ?? undefined);
    const result = await this.issuer.issue(user, client, options.organizationId, {
      target,
      mfaVerified: options.mfaSatisfied,
      audit: loginSucceededAudit(user, client, { method, mfa: options.mfaSatisfied }),
    });
    return { status: 'signed_in', ...result };
  }
}
