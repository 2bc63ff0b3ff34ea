import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { InvalidCredentialsError, TokenError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { ownSessionInput, passwordInput } from './auth-inputs.js';
import { clientAuditFields, clientContextSchema, type ClientContext } from './client-context.js';
import { PasswordGate } from './password-gate.js';
import { SessionRevoker } from './session-revoker.js';
import { SessionValidator } from './session-validator.js';
import { SignInBookkeeping } from './sign-in-bookkeeping.js';
import { StrictestPasswordPolicy } from './strictest-password-policy.js';

/** What `changePassword` reports. */
export interface PasswordChanged {
  /** Other sessions of the user revoked (the calling one stays). */
  readonly revokedSessions: number;
}

/** The signed-in user's password change (a forgotten password is `VerificationService.resetPassword`). */
@injectable()
@accessControlled
export class PasswordChange {
  constructor(
    @inject(SessionValidator) private readonly validator: SessionValidator,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(PasswordGate) private readonly gate: PasswordGate,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(SignInBookkeeping) private readonly bookkeeping: SignInBookkeeping,
    @inject(StrictestPasswordPolicy) private readonly strictest: StrictestPasswordPolicy,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
  ) {}

  /**
   * Changes the signed-in user's password: the session must be live, the
   * current password right (a wrong one counts like a failed sign-in), the new
   * one must meet the strictest policy of the user's organizations and not
   * repeat the current or a recent one. Clears `must_change_password`, then
   * revokes every OTHER session of the user (the calling one stays).
   * @param session the caller's session (e.g. the `ValidatedSession` of this request)
   * @throws ValidationError naming `session.*` / `currentPassword` / `newPassword` (issues carry the broken rules as codes)
   * @throws TokenError when the session is not live; InvalidCredentialsError for a wrong current password; RateLimitedError
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async changePassword(
    session: { readonly userId: string; readonly sessionId: string },
    currentPassword: string,
    newPassword: string,
    context: ClientContext = {},
  ): Promise<PasswordChanged> {
    const input = parseInput(
      z.object({ session: ownSessionInput, currentPassword: passwordInput, newPassword: z.string().min(1).max(1024), context: clientContextSchema }),
      { session, currentPassword, newPassword, context },
    );
    const client = input.context;
    const live = await this.validator.validate({ userId: input.session.userId, sessionId: input.session.sessionId });
    const user = await this.users.getById(live.userId);
    if (!user) throw new TokenError('revoked', 'Session is not valid');
    const attempt = this.bookkeeping.attemptFor(user.email, client);
    await this.bookkeeping.checkThrottle(attempt);

    const verdict = await this.gate.verify(await this.users.findCredentialsByEmail(user.email), input.currentPassword);
    if (!verdict.ok) {
      await this.bookkeeping.recordFailure(user.id, attempt, client, 'wrong_current_password', { organizationId: live.organizationId, counted: verdict });
      throw new InvalidCredentialsError();
    }
    // The current password counts as used: "changing" to it would change nothing.
    const { historyDepth } = await this.strictest.assertNewPassword(user, input.newPassword);
    await this.accounts.changePassword(user.id, await this.hasher.hash(input.newPassword), historyDepth, {
      events: [
        {
          eventType: 'auth.password.changed',
          organizationId: live.organizationId,
          actorUserId: user.id,
          ...clientAuditFields(client),
          riskScore: 20,
          details: { sessionId: live.sessionId },
        },
      ],
    });
    const revokedSessions = await this.revoker.revokeOtherSessions(user.id, live.sessionId, 'password_changed');
    return { revokedSessions };
  }
}
