import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { InvalidCredentialsError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { LOGGER } from '../../tokens.js';
import { passwordInput, signInIdentifierInput } from './auth-inputs.js';
import { clientContextSchema, type ClientContext } from './client-context.js';
import { MfaService, secondFactorDue, type MfaChallengeResult, type MfaEnrollmentRequiredResult } from './mfa-service.js';
import { PasswordChangeTickets, type PasswordChangeRequiredResult } from './password-change-tickets.js';
import { PasswordGate } from './password-gate.js';
import { SessionIssuer, type SignInResult } from './session-issuer.js';
import { SignInBookkeeping } from './sign-in-bookkeeping.js';

/**
 * Built once: a `z.object` built per call is compiled again by zod on its first parse (≈ 0.3 ms of CPU per
 * login, measured with --cpu-prof; docs/benchmarks.md, "Login").
 */
const loginInput = z.object({ identifier: signInIdentifierInput, password: passwordInput, organizationId: z.uuid().optional(), context: clientContextSchema });

/** A finished sign-in: the session exists. Contains the refresh token: hand it to the client, never log it. */
export type SignedInResult = SignInResult & { readonly status: 'signed_in' };

/** What `login` returns; narrow on `status` (`signed_in` carries the session, `password_change_required` a ticket and none). */
export type LoginResult = SignedInResult | MfaChallengeResult | MfaEnrollmentRequiredResult | PasswordChangeRequiredResult;

/**
 * Password sign-in. The second step of a sign-in that needs MFA is
 * {@link MfaSignIn}; the session's later life is {@link SessionValidator},
 * {@link RefreshRotation} and {@link SessionRevoker}. See docs/sessions.md, "Flows".
 *
 * Nine dependencies, with a reason: one per step of a password sign-in (the user lookup, the
 * hash check and rehash, the password gate, the shared bookkeeping, the MFA decision, the
 * required-change ticket, the session), each already its own service; none is a second concern.
 *
 * @example
 * let result = await platform.resolve(PasswordSignIn).login(email, password, { ip, userAgent });
 * if (result.status === 'mfa_required') result = await platform.resolve(MfaSignIn).completeMfaLogin(result.challengeToken, { code }, { ip, userAgent });
 * if (result.status === 'password_change_required') return askNewPassword(result.passwordChangeTicket); // → PasswordChange.completeRequiredChange
 * if (result.status !== 'signed_in') return offerEnrollment(result.challengeToken); // mfa_enrollment_required
 * const session = await platform.resolve(SessionValidator).validate({ userId: result.user.id, sessionId: result.sessionId });
 */
@injectable()
@accessControlled
export class PasswordSignIn {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(PasswordGate) private readonly gate: PasswordGate,
    @inject(SignInBookkeeping) private readonly bookkeeping: SignInBookkeeping,
    @inject(SessionIssuer) private readonly issuer: SessionIssuer,
    @inject(MfaService) private readonly mfa: MfaService,
    @inject(PasswordChangeTickets) private readonly tickets: PasswordChangeTickets,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Password sign-in with an email or a username (`identifier`): throttle → lookup → bcrypt (dummy for unknown users) →
   * account state → organization rules (membership, IP allow-list) ∥ MFA state → [MFA due: challenge, stop] →
   * lockout bookkeeping ∥ risk inputs → session ∥ throttle reset ∥ rehash → audit.
   * The throttle check stays before the lookup, so a throttled attacker costs Postgres nothing.
   *
   * @param context.organizationId the organization to sign in to (default: the oldest membership)
   * @param identifier the account's email, or its username (case-insensitive either way); an unknown username
   *   answers exactly like an unknown email (same error, same dummy bcrypt: no enumeration)
   * @throws ValidationError naming `identifier` (neither an email nor a well-formed username) / `password` / `context.*` (never echoing the password)
   * @throws RateLimitedError (with `retryAfterMs`) when the account or IP is throttled
   * @throws InvalidCredentialsError for an unknown email or username, a wrong password, or an account the lockout has locked
   *   (whatever the password: OWASP ASVS v4 2.2.1, NIST SP 800-63B 5.2.2) — identical in every case
   * @throws AccountStateError `locked` (administrative) / `suspended` / `deleted` / `pending_verification`, only after a correct password
   * @throws TenantAccessError when the user belongs to no (such) organization, or (`permission: 'ip_allow_list'`, audited)
   *   when the client's IP is outside the organization's allow-list — only after a correct password
   * @returns `signed_in` with the session; or, when a second factor is due, `mfa_required` / `mfa_enrollment_required` with a challenge and NO session;
   *   or, when the password must be changed (must-change flag, or the organization's `passwordMaxAgeDays` passed) and no second factor is due,
   *   `password_change_required` with a ticket for `PasswordChange.completeRequiredChange` and NO session (after the second factor when one is due)
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async login(identifier: string, password: string, context: ClientContext & { organizationId?: string } = {}): Promise<LoginResult> {
    const { organizationId, ...clientInput } = context;
    const input = parseInput(loginInput, { identifier, password, organizationId, context: clientInput });
    const client = input.context;
    const account = input.identifier;
    const attempt = this.bookkeeping.attemptFor(account.value, client);
    await this.bookkeeping.checkThrottle(attempt);

    const credentials =
      account.kind === 'email' ? await this.users.findCredentialsByEmail(account.value) : await this.users.findCredentialsByUsername(account.value);
    // The lockout's attempt is reserved before bcrypt; a locked account answers like a wrong password.
    const verdict = await this.gate.verify(credentials, input.password);
    if (!verdict.ok || !credentials) {
      await this.bookkeeping.recordFailure(
        credentials?.user.id,
        attempt,
        client,
        verdict.ok ? 'unknown_account' : verdict.reason,
        verdict.ok ? {} : { counted: verdict },
      );
      throw new InvalidCredentialsError();
    }

    // From here on the password was right, so the account state may be told (a running lockout excepted).
    const user = credentials.user;
    this.bookkeeping.assertMaySignIn(user);
    // The organization's rules that need no second factor (membership, IP allow-list), and whether one is due.
    const [target, mfaEnabled] = await Promise.all([this.issuer.resolveTarget(user, client, input.organizationId, 'login'), this.mfa.isEnabled(user.id)]);
    const changeDue = await this.tickets.due(user, target.settings);
    const due = secondFactorDue(mfaEnabled, target.settings);
    if (due !== undefined) {
      // No session and no counter reset yet: resetting the lockout here would let someone holding
      // the password alternate password and code guesses forever. MfaSignIn resets on success.
      // A required password change waits for the second factor (NIST SP 800-63B 6.1.2: changing an
      // authenticator needs the authentication level of the account), so the challenge carries it.
      await this.#rehashIfNeeded(user.id, input.password, verdict.passwordHash);
      return this.mfa.startSignInChallenge(user, target.membership.organizationId, due, client, {}, { passwordChangeDue: changeDue !== undefined });
    }
    if (changeDue !== undefined) {
      // The restricted first step: the same bookkeeping as a sign-in, a ticket and no session.
      return this.bookkeeping.acceptForPasswordChange(
        user,
        client,
        () => this.tickets.issue(user, target.membership.organizationId, client, { reason: changeDue, mfaVerified: false }),
        this.#rehashIfNeeded(user.id, input.password, verdict.passwordHash),
      );
    }
    return this.bookkeeping.accept(
      user,
      client,
      (loginSucceeded) => this.issuer.issue(user, client, input.organizationId, { target, audit: (sessionId, orgId) => [loginSucceeded(sessionId, orgId)] }),
      this.#rehashIfNeeded(user.id, input.password, verdict.passwordHash),
    );
  }

  async #rehashIfNeeded(userId: string, password: string, hash: string): Promise<void> {
    if (!this.hasher.needsRehash(hash)) return;
    try {
      await this.accounts.replacePasswordHash(userId, hash, await this.hasher.hash(password));
    } catch (error) {
      // The sign-in is valid either way; the next one tries again.
      this.logger.warn('password rehash failed', { userId, error });
    }
  }
}
