import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { InvalidCredentialsError, TokenError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { challengeTokenInput, ownSessionInput, passwordInput } from './auth-inputs.js';
import { clientAuditFields, clientContextSchema, type ClientContext } from './client-context.js';
import { PasswordChangeTickets } from './password-change-tickets.js';
import { PasswordGate } from './password-gate.js';
import type { SignedInResult } from './password-sign-in.js';
import { SessionIssuer } from './session-issuer.js';
import { SessionRevoker, type RevocationWithin } from './session-revoker.js';
import { SessionValidator } from './session-validator.js';
import { SignInBookkeeping } from './sign-in-bookkeeping.js';
import { StrictestPasswordPolicy } from './strictest-password-policy.js';

/** What `changePassword` reports. */
export interface PasswordChanged {
  /** Other sessions of the user revoked (the calling one stays). */
  readonly revokedSessions: number;
}

const newPasswordInput = z.string().min(1).max(1024);

/**
 * The signed-in user's password change, and the required change a password sign-in answered with a ticket
 * (a forgotten password is `PasswordReset.resetPassword`). Ten dependencies, with a reason: both
 * changes share the policy, hashing and revocation; the required one also ends in a sign-in (tickets, issuer).
 */
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
    @inject(PasswordChangeTickets) private readonly tickets: PasswordChangeTickets,
    @inject(SessionIssuer) private readonly issuer: SessionIssuer,
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
      z.object({ session: ownSessionInput, currentPassword: passwordInput, newPassword: newPasswordInput, context: clientContextSchema }),
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
    const hash = await this.hasher.hash(input.newPassword);
    // The other sessions end in the change's transaction: no crash leaves the new password with the old sessions live.
    let revocation: RevocationWithin | undefined;
    await this.accounts.changePassword(user.id, hash, historyDepth, {
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
      within: async (tx) => {
        revocation = await this.revoker.revokeAllForUserWithin(tx, user.id, 'password_changed', { keepSessionId: live.sessionId });
      },
    });
    await revocation?.evict();
    return { revokedSessions: revocation?.revoked ?? 0 };
  }

  /**
   * Finishes a sign-in that answered `password_change_required`: the ticket (single use, 5 minutes) stands in for
   * the current password and, when one was due, the second factor — both were proven when it was issued. The new
   * password is checked as in {@link changePassword} (strictest policy of the user's organizations, breached list,
   * history including the current one: OWASP ASVS v4 2.1.1/2.1.7/2.1.10, NIST SP 800-63B 5.1.1.2); a refused one
   * leaves the ticket open for another try. Then, in ONE transaction: the ticket is spent, the password replaced
   * (`must_change_password` cleared, `auth.password.changed` with `via: 'required_change'`) and every session of
   * the user revoked (`password_changed`); after it commits, a session issued as a sign-in does
   * (`auth.login.succeeded` with `via: 'password_change'`; `mfaVerified` when the sign-in passed a second factor).
   * @throws ValidationError naming `ticket` / `newPassword` (issues carry the broken rules as codes) / `context.*`
   * @throws TokenError `invalid` / `consumed` / `expired` for the ticket
   * @throws RateLimitedError; AccountStateError (e.g. `suspended` since the ticket); TenantAccessError (membership ended, IP allow-list)
   */
  @declareAccess({ preTenant: 'authentication: the caller holds a password-change ticket' })
  async completeRequiredChange(ticket: string, newPassword: string, context: ClientContext = {}): Promise<SignedInResult> {
    const input = parseInput(z.object({ ticket: challengeTokenInput, newPassword: newPasswordInput, context: clientContextSchema }), {
      ticket,
      newPassword,
      context,
    });
    const client = input.context;
    const open = await this.tickets.open(input.ticket);
    const user = await this.users.getById(open.userId);
    if (!user) throw new TokenError('invalid', 'Unknown password-change ticket');
    await this.bookkeeping.checkThrottle(this.bookkeeping.attemptFor(user.email, client));
    // Re-checked: the account may have been suspended or locked since the ticket was issued.
    this.bookkeeping.assertMaySignIn(user);
    const { historyDepth } = await this.strictest.assertNewPassword(user, input.newPassword);
    const hash = await this.hasher.hash(input.newPassword);
    // The ticket is spent in the change's transaction (single use: of two completions racing, the second waits on the
    // user's row lock, finds it spent and rolls back), and sessions from before the change (a password past its max age
    // may have some) end with it, as a reset ends them: a crash leaves all of it or none.
    let revocation: RevocationWithin | undefined;
    const changedPassword = await this.accounts.changePassword(user.id, hash, historyDepth, {
      events: [
        {
          eventType: 'auth.password.changed',
          organizationId: open.organizationId,
          actorUserId: user.id,
          ...clientAuditFields(client),
          riskScore: 20,
          details: { via: 'required_change', ticketId: open.id },
        },
      ],
      within: async (tx) => {
        await this.tickets.consumeWithin(tx, open);
        revocation = await this.revoker.revokeAllForUserWithin(tx, user.id, 'password_changed');
      },
    });
    // The user is gone since the ticket was read: nothing was changed, nothing spent.
    if (!changedPassword) throw new TokenError('invalid', 'Unknown password-change ticket');
    await revocation?.evict();
    const changed = { ...user, mustChangePassword: false };
    return this.bookkeeping.accept(changed, client, (loginSucceeded) =>
      this.issuer.issue(changed, client, open.organizationId, {
        via: open.mfaVerified ? 'mfa' : 'login',
        mfaVerified: open.mfaVerified,
        audit: (sessionId, organizationId) => [
          loginSucceeded(sessionId, organizationId, { via: 'password_change', ...(open.mfaVerified ? { mfa: true } : {}) }),
        ],
      }),
    );
  }
}
