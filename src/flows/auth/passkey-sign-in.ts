import { generateAuthenticationOptions, type AuthenticationResponseJSON, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { AccountStateError, PasskeyError, RateLimitedError, TokenError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { MfaChallengeRepository } from '../../postgres/repositories/mfa-challenge-repository.js';
import { PasskeyRepository } from '../../postgres/repositories/passkey-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { RateLimiter } from '../../redis/repositories/rate-limiter.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { IDENTITY_FLOW_OPTIONS } from '../../tokens.js';
import { clientContextSchema, type ClientContext } from './client-context.js';
import { loginSucceededAudit } from './login-succeeded-audit.js';
import { FirstFactorSignIn, type FirstFactorSignInResult } from './first-factor-sign-in.js';
import type { IdentityFlowOptions } from '../../identity-flow-options.js';
import type { SecondFactorResult } from './mfa-sign-in.js';
import { challengeBytes, PasskeyCeremony, passkeyUseAudit } from './passkey-ceremony.js';
import { PasswordChangeTickets } from './password-change-tickets.js';
import { SessionIssuer } from './session-issuer.js';

const HOUR_MS = 3_600_000;
const DEFAULT_MFA_CHALLENGE_MAX_ATTEMPTS = 5;

/**
 * Signing in with a passkey (WebAuthn L2 §7.2): as the only factor
 * (usernameless: a discoverable credential names its user, so nothing is
 * asked before and nothing enumerates accounts), or as the second factor of
 * a sign-in that returned `mfa_required`.
 *
 * Nine dependencies, with a reason: the two uses share the ceremony, the stored passkeys and
 * the throttle; the first-factor use ends like every first factor (user, first-factor sign-in,
 * required-change ticket), the second-factor use in its challenge and the issuer.
 *
 * @example
 * const options = await passkeySignIn.beginSignIn({ ip });       // → navigator.credentials.get({ publicKey: options })
 * const result = await passkeySignIn.finishSignIn(assertion.toJSON(), { ip });
 */
@injectable()
@accessControlled
export class PasskeySignIn {
  constructor(
    @inject(PasskeyRepository) private readonly passkeys: PasskeyRepository,
    @inject(PasskeyCeremony) private readonly ceremony: PasskeyCeremony,
    @inject(MfaChallengeRepository) private readonly challenges: MfaChallengeRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(SessionIssuer) private readonly issuer: SessionIssuer,
    @inject(FirstFactorSignIn) private readonly firstFactor: FirstFactorSignIn,
    @inject(RateLimiter) private readonly limiter: RateLimiter,
    @inject(IDENTITY_FLOW_OPTIONS) private readonly options: IdentityFlowOptions,
    @inject(PasswordChangeTickets) private readonly tickets: PasswordChangeTickets,
  ) {}

  /**
   * Request options for a usernameless sign-in (empty `allowCredentials`: the
   * authenticator offers its discoverable credentials for this RP).
   * @throws ValidationError naming `context.*`; RateLimitedError per client IP
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async beginSignIn(context: ClientContext = {}): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const client = parseInput(clientContextSchema, context, 'context');
    await this.#limitIp(client.ip);
    const webauthn = this.options.webauthn;
    const { challenge } = await this.passkeys.createChallenge(undefined, 'authentication', webauthn.challengeTtlSeconds);
    return generateAuthenticationOptions({
      rpID: webauthn.rpId,
      challenge: challengeBytes(challenge),
      timeout: webauthn.challengeTtlSeconds * 1000,
      userVerification: webauthn.userVerification,
    });
  }

  /**
   * Verifies the assertion answering {@link beginSignIn} and signs its owner in.
   * A passkey with user verification is multi-factor by itself (NIST SP 800-63B
   * 5.1.9), so no TOTP is asked; without it, the usual second factor applies.
   * @throws ValidationError naming `response.*` / `context.*`; TokenError for the challenge
   * @throws PasskeyError `unknown_credential` / `verification_failed` / `counter_regression` (audited, risk 90)
   * @throws AccountStateError; TenantAccessError (membership, IP allow-list)
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async finishSignIn(response: AuthenticationResponseJSON, context: ClientContext & { organizationId?: string } = {}): Promise<FirstFactorSignInResult> {
    const { organizationId, ...rest } = context;
    const input = parseInput(z.object({ organizationId: z.uuid().optional(), context: clientContextSchema }), { organizationId, context: rest });
    const { passkey, userVerified } = await this.ceremony.verifyAssertion(
      response,
      undefined,
      passkeyUseAudit(input.context, input.organizationId ?? null, 'sign_in'),
    );
    const user = await this.users.getById(passkey.userId);
    if (!user) throw new PasskeyError('unknown_credential');
    return this.firstFactor.complete(user, input.context, 'passkey', { organizationId: input.organizationId, mfaSatisfied: userVerified });
  }

  /**
   * Request options to answer an `mfa_required` sign-in with a passkey: the
   * challenge is bound to that user and lists their credentials.
   * @throws ValidationError naming `challengeToken`; TokenError for the MFA challenge
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async beginSecondFactor(challengeToken: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const token = parseInput(z.string().min(1).max(512), challengeToken, 'challengeToken');
    const mfaChallenge = await this.challenges.findActive(token, 'sign_in');
    const webauthn = this.options.webauthn;
    const [owned, { challenge }] = await Promise.all([
      this.passkeys.listForUser(mfaChallenge.userId),
      this.passkeys.createChallenge(mfaChallenge.userId, 'authentication', webauthn.challengeTtlSeconds),
    ]);
    return generateAuthenticationOptions({
      rpID: webauthn.rpId,
      challenge: challengeBytes(challenge),
      timeout: webauthn.challengeTtlSeconds * 1000,
      userVerification: webauthn.userVerification,
      allowCredentials: owned.map((p) => ({ id: p.credentialId, transports: [...p.transports] })),
    });
  }

  /**
   * Second step of a sign-in that returned `mfa_required`, with a passkey of
   * that user instead of a TOTP code: a refused passkey counts against the MFA
   * challenge (closed after 5), and the challenge is used once. Ends in a password-change ticket instead of a
   * session when the password sign-in found the password must be changed (as `MfaSignIn.completeMfaLogin`).
   * @throws ValidationError; TokenError for either challenge; PasskeyError; AccountStateError; TenantAccessError
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async completeMfaLogin(challengeToken: string, response: AuthenticationResponseJSON, context: ClientContext = {}): Promise<SecondFactorResult> {
    const input = parseInput(z.object({ challengeToken: z.string().min(1).max(512), context: clientContextSchema }), { challengeToken, context });
    const client = input.context;
    const mfaChallenge = await this.challenges.findActive(input.challengeToken, 'sign_in');
    try {
      await this.ceremony.verifyAssertion(response, mfaChallenge.userId, passkeyUseAudit(client, mfaChallenge.organizationId, 'second_factor'));
    } catch (error) {
      if (error instanceof PasskeyError) await this.challenges.recordFailedAttempt(mfaChallenge.id, DEFAULT_MFA_CHALLENGE_MAX_ATTEMPTS);
      throw error;
    }
    if (!(await this.challenges.consume(mfaChallenge.id))) throw new TokenError('consumed', 'MFA challenge was already used');
    const user = await this.users.getById(mfaChallenge.userId);
    if (!user || user.status === 'deleted') throw new AccountStateError('deleted');
    if (user.status === 'suspended' || user.status === 'locked') throw new AccountStateError(user.status);
    if (!(await this.users.recordSuccessfulLogin(user.id, client.ip))) throw new AccountStateError('locked', user.lockedUntil ?? undefined);
    if (mfaChallenge.passwordChangeDue) {
      const reason = user.mustChangePassword ? 'must_change' : 'max_age';
      return this.tickets.issue(user, mfaChallenge.organizationId, client, { reason, mfaVerified: true });
    }
    const result = await this.issuer.issue(user, client, mfaChallenge.organizationId, {
      via: 'mfa',
      mfaVerified: true,
      audit: loginSucceededAudit(user, client, { mfa: 'passkey' }),
    });
    return { status: 'signed_in', ...result };
  }

  async #limitIp(ip: string | undefined): Promise<void> {
    if (ip === undefined) return;
    const result = await this.limiter.consumeForIp(ip, 'passkey_sign_in', { limit: this.options.emailSignInPerHourPerIp, windowMs: HOUR_MS });
    if (!result.allowed) throw new RateLimitedError('Too many requests', result.retryAfterMs, result.limit);
  }
}
