import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import { ConflictError, InvalidMfaCodeError, NotFoundError, TenantAccessError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { MfaChallengeRepository } from '../../postgres/repositories/mfa-challenge-repository.js';
import { MfaRepository } from '../../postgres/repositories/mfa-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { generateRecoveryCodes } from '../../security/recovery-codes.js';
import { Totp } from '../../security/totp.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { isTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';
import { AUTH_FLOW_OPTIONS } from '../../tokens.js';
import { totpCodeInput } from './second-factor-check.js';

/** What `beginTotpEnrollment` returns once: show the URI as a QR code; never log either value. */
export interface TotpEnrollment {
  /** Base32 secret, for manual entry in the app. Stored only encrypted. */
  readonly secret: string;
  readonly otpauthUri: string;
}

/** What confirming an enrolment returns once: the user must store the codes now; only hashes are kept. */
export interface TotpEnabled {
  readonly enabledAt: Date;
  readonly recoveryCodes: readonly string[];
}

const DEFAULT_TOTP_ISSUER = 'platform-data';

/**
 * TOTP enrolment: `beginTotpEnrollment` stores a new secret encrypted (not yet
 * enabled) and returns it once; `confirmTotpEnrollment` (signed in) or
 * `MfaSignIn.completeMfaEnrollment` (at a sign-in that requires MFA, through
 * {@link enableWithCode}) checks the first code, enables MFA and returns ten
 * recovery codes once (hashes stored).
 */
@injectable()
@accessControlled
export class MfaEnrollment {
  constructor(
    @inject(MfaRepository) private readonly mfa: MfaRepository,
    @inject(MfaChallengeRepository) private readonly challenges: MfaChallengeRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(Totp) private readonly totp: Totp,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
  ) {}

  /**
   * Starts (or restarts, while not yet confirmed) a TOTP enrolment for the
   * signed-in user (`TenantContext`), or for a user whose sign-in returned
   * `mfa_enrollment_required` (`{ challengeToken }`; finish that one with
   * `MfaSignIn.completeMfaEnrollment`).
   * @throws ValidationError naming `ctx.*` / `challengeToken`
   * @throws TokenError `invalid` / `consumed` / `expired` for a bad challenge token
   * @throws ConflictError `mfa_already_enabled` when MFA is already on
   */
  @declareAccess({
    preTenant:
      "MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first; takes the user's own context or a sign-in challenge token",
  })
  async beginTotpEnrollment(subject: TenantContext | { readonly challengeToken: string }): Promise<TotpEnrollment> {
    const userId = await this.#subjectUserId(subject);
    const user = await this.users.getById(userId);
    if (!user) throw new NotFoundError('user', userId);
    const secret = this.totp.generateSecret();
    await this.mfa.enroll(userId, secret);
    const otpauthUri = this.totp.keyUri({ secret, issuer: this.options.totpIssuer ?? DEFAULT_TOTP_ISSUER, accountName: user.email });
    return { secret, otpauthUri };
  }

  /**
   * Confirms the signed-in user's enrolment with a first code: enables MFA and
   * issues recovery codes (shown once). A wrong code is a typo here (the user
   * is signed in), so it does not count towards the lockout.
   * @throws ValidationError naming `ctx.*` / `code`
   * @throws InvalidMfaCodeError when the code does not match
   * @throws NotFoundError when no enrolment was started; ConflictError `mfa_already_enabled`
   */
  @declareAccess({ ownAccount: true })
  async confirmTotpEnrollment(ctx: TenantContext, code: string): Promise<TotpEnabled> {
    return this.enableWithCode(ctx.userId, code, { organizationId: ctx.organizationId });
  }

  /**
   * Confirms a started enrolment with its first code and issues recovery codes;
   * writes `auth.mfa.enabled` for `audit.organizationId`.
   * @throws ValidationError naming `code`
   * @throws InvalidMfaCodeError when the code does not match
   * @throws NotFoundError when no enrolment was started; ConflictError `mfa_already_enabled`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async enableWithCode(userId: string, code: string, audit: { readonly organizationId: string; readonly atSignIn?: boolean }): Promise<TotpEnabled> {
    const c = parseInput(totpCodeInput, code, 'code');
    const stored = await this.mfa.getSecret(userId);
    if (!stored) throw new NotFoundError('mfa enrolment', userId);
    if (stored.enabledAt !== null) throw new ConflictError('MFA is already enabled', { store: 'postgres', constraint: 'mfa_already_enabled' });
    const result = await this.totp.verify(stored.secret, c, { afterTimeStep: stored.lastUsedStep ?? undefined });
    if (!result.valid) throw new InvalidMfaCodeError(result.reason === 'replayed' ? 'replayed' : 'invalid');
    const recovery = generateRecoveryCodes();
    // One transaction: MFA on, the recovery codes, and the event (issue 16: security events commit with their change).
    const enabledAt = await this.mfa.enable(userId, result.timeStep, {
      recoveryCodeHashes: recovery.hashes,
      events: [
        {
          eventType: 'auth.mfa.enabled',
          organizationId: audit.organizationId,
          actorUserId: userId,
          details: { method: 'totp', ...(audit.atSignIn === true ? { atSignIn: true } : {}) },
        },
      ],
    });
    return { enabledAt, recoveryCodes: recovery.codes };
  }

  async #subjectUserId(subject: TenantContext | { readonly challengeToken: string }): Promise<string> {
    if ('challengeToken' in subject) {
      const { challengeToken } = parseInput(z.object({ challengeToken: z.string().min(1).max(512) }).strict(), subject);
      const challenge = await this.challenges.findActive(challengeToken, 'enrollment');
      return challenge.userId;
    }
    if (!isTenantContext(subject) || subject.actor.kind !== 'user')
      throw new TenantAccessError('A TenantContext of the user in person is required', { permission: 'own_account' });
    return subject.userId;
  }
}
