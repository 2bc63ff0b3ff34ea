import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { InvalidMfaCodeError, TokenError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { MfaChallengeRepository, type MfaChallengeRecord } from '../../postgres/repositories/mfa-challenge-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { AUTH_FLOW_OPTIONS } from '../../tokens.js';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import { challengeTokenInput } from './auth-inputs.js';
import { clientContextSchema, type ClientContext, type ParsedClientContext } from './client-context.js';
import { MfaEnrollment } from './mfa-enrollment.js';
import { PasswordChangeTickets, type PasswordChangeRequiredResult } from './password-change-tickets.js';
import { mfaProofSchema, SecondFactorCheck, totpCodeInput, type MfaMethod, type MfaProof } from './second-factor-check.js';
import type { SignedInResult } from './password-sign-in.js';
import { SessionIssuer } from './session-issuer.js';
import { SignInBookkeeping, type SignInAttempt } from './sign-in-bookkeeping.js';

/**
 * What a second factor ends in: the session, or — when the sign-in's password must be changed — a
 * password-change ticket and no session (`PasswordChange.completeRequiredChange`).
 */
export type SecondFactorResult = SignedInResult | PasswordChangeRequiredResult;

/** A sign-in finished by enrolling MFA: the session (or a password-change ticket), and the recovery codes (shown once). */
export type EnrolledSignInResult = SecondFactorResult & { readonly recoveryCodes: readonly string[] };

const DEFAULT_MFA_CHALLENGE_MAX_ATTEMPTS = 5;

/**
 * The second step of a sign-in (password or OAuth) that answered
 * `mfa_required` or `mfa_enrollment_required`: the challenge, the code, then
 * the session. Wrong or replayed codes count like wrong passwords (Redis
 * throttle + PostgreSQL lockout) and against the challenge.
 */
@injectable()
@accessControlled
export class MfaSignIn {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(MfaChallengeRepository) private readonly challenges: MfaChallengeRepository,
    @inject(SecondFactorCheck) private readonly check: SecondFactorCheck,
    @inject(MfaEnrollment) private readonly enrollment: MfaEnrollment,
    @inject(SignInBookkeeping) private readonly bookkeeping: SignInBookkeeping,
    @inject(SessionIssuer) private readonly issuer: SessionIssuer,
    @inject(PasswordChangeTickets) private readonly tickets: PasswordChangeTickets,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
  ) {}

  /**
   * Second step of a sign-in that returned `mfa_required`: checks a TOTP code
   * (each time step accepted once, atomically) or consumes a recovery code,
   * then issues the session — or, when the password sign-in found the password must be changed, a
   * password-change ticket and no session. The challenge closes after 5 wrong codes.
   * @throws ValidationError naming `challengeToken` / `code` / `recoveryCode` / `context.*`
   * @throws TokenError `invalid` / `consumed` / `expired` for the challenge
   * @throws InvalidMfaCodeError `invalid` / `replayed`
   * @throws RateLimitedError; InvalidCredentialsError once wrong codes have locked the account; AccountStateError (e.g. `suspended`); TenantAccessError (IP allow-list, membership ended)
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async completeMfaLogin(challengeToken: string, proof: MfaProof, context: ClientContext = {}): Promise<SecondFactorResult> {
    const input = parseInput(z.object({ challengeToken: challengeTokenInput, proof: mfaProofSchema, context: clientContextSchema }), {
      challengeToken,
      proof,
      context,
    });
    const { challenge, user, attempt } = await this.#openChallenge(input.challengeToken, 'sign_in', input.context);
    let method: MfaMethod;
    try {
      // A recovery code spent writes its event in the same transaction (SecondFactorCheck.verify), session or not.
      method = await this.check.verify(user.id, input.proof, challenge.organizationId);
    } catch (error) {
      if (error instanceof InvalidMfaCodeError) await this.#recordFailure(user, challenge, attempt, input.context, error.reason);
      throw error;
    }
    return this.#finish(user, challenge, input.context, method);
  }

  /**
   * Second step of a sign-in that returned `mfa_enrollment_required`, after
   * `MfaEnrollment.beginTotpEnrollment({ challengeToken })`: the first code
   * enables TOTP, then the session is issued. Policy: a user of an
   * organization that requires MFA enrols at their first sign-in with the
   * password alone (docs/sessions.md).
   * @returns the session and the recovery codes (shown once)
   * @throws ValidationError naming `challengeToken` / `code` / `context.*`
   * @throws TokenError for the challenge; InvalidMfaCodeError; NotFoundError when enrolment was not begun
   * @throws RateLimitedError; AccountStateError; TenantAccessError
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async completeMfaEnrollment(challengeToken: string, code: string, context: ClientContext = {}): Promise<EnrolledSignInResult> {
    const input = parseInput(z.object({ challengeToken: challengeTokenInput, code: totpCodeInput, context: clientContextSchema }), {
      challengeToken,
      code,
      context,
    });
    const { challenge, user, attempt } = await this.#openChallenge(input.challengeToken, 'enrollment', input.context);
    let recoveryCodes: readonly string[];
    try {
      recoveryCodes = (await this.enrollment.enableWithCode(user.id, input.code, { organizationId: challenge.organizationId, atSignIn: true })).recoveryCodes;
    } catch (error) {
      if (error instanceof InvalidMfaCodeError) await this.#recordFailure(user, challenge, attempt, input.context, error.reason);
      throw error;
    }
    const result = await this.#finish(user, challenge, input.context, 'totp_enrollment');
    return { ...result, recoveryCodes };
  }

  /** The challenge, its user, and the throttle/account checks every second-factor attempt passes first. */
  async #openChallenge(
    token: string,
    purpose: 'sign_in' | 'enrollment',
    client: ParsedClientContext,
  ): Promise<{ challenge: MfaChallengeRecord; user: UserRecord; attempt: SignInAttempt }> {
    const challenge = await this.challenges.findActive(token, purpose);
    const user = await this.users.getById(challenge.userId);
    if (!user) throw new TokenError('invalid', 'Unknown MFA challenge');
    const attempt = this.bookkeeping.attemptFor(user.email, client);
    await this.bookkeeping.checkThrottle(attempt);
    // Re-checked: the account may have been locked (wrong codes) or suspended since the password step.
    this.bookkeeping.assertMaySignIn(user);
    return { challenge, user, attempt };
  }

  async #recordFailure(
    user: UserRecord,
    challenge: MfaChallengeRecord,
    attempt: SignInAttempt,
    client: ParsedClientContext,
    reason: InvalidMfaCodeError['reason'],
  ): Promise<void> {
    const maxAttempts = this.options.mfaChallengeMaxAttempts ?? DEFAULT_MFA_CHALLENGE_MAX_ATTEMPTS;
    await this.bookkeeping.recordFailure(user.id, attempt, client, reason === 'replayed' ? 'replayed_mfa_code' : 'wrong_mfa_code', {
      organizationId: challenge.organizationId,
      details: { challengeId: challenge.id, purpose: challenge.purpose },
      alongside: this.challenges.recordFailedAttempt(challenge.id, maxAttempts),
    });
  }

  async #finish(
    user: UserRecord,
    challenge: MfaChallengeRecord,
    client: ParsedClientContext,
    method: MfaMethod | 'totp_enrollment',
  ): Promise<SecondFactorResult> {
    // Single use: of two completions racing with two valid codes, one gets the session.
    if (!(await this.challenges.consume(challenge.id))) throw new TokenError('consumed', 'MFA challenge was already used');
    if (challenge.passwordChangeDue) {
      // Both factors were right: the restricted step the password sign-in held back (PasswordChangeTickets).
      const reason = user.mustChangePassword ? 'must_change' : 'max_age';
      return this.bookkeeping.acceptForPasswordChange(user, client, () =>
        this.tickets.issue(user, challenge.organizationId, client, { reason, mfaVerified: true }),
      );
    }
    return this.bookkeeping.accept(user, client, (loginSucceeded) =>
      // Resolved again for THIS client: the IP allow-list applies to the address that finishes the sign-in.
      this.issuer.issue(user, client, challenge.organizationId, {
        via: 'mfa',
        mfaVerified: true,
        audit: (sessionId, organizationId) => [loginSucceeded(sessionId, organizationId, { mfa: method })],
      }),
    );
  }
}
