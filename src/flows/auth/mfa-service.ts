import { inject, injectable } from 'tsyringe';
import type { Logger } from '../../logger.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { MfaChallengeRepository, MFA_CHALLENGE_TTL_SECONDS, type MfaChallengePurpose } from '../../postgres/repositories/mfa-challenge-repository.js';
import { MfaRepository } from '../../postgres/repositories/mfa-repository.js';
import type { SecuritySettings } from '../../postgres/repositories/security-settings-repository.js';
import type { UserRecord } from '../../postgres/repositories/user-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { LOGGER } from '../../tokens.js';
import { recordAuditEvent } from '../record-audit-event.js';
import { clientAuditFields, type ParsedClientContext } from './client-context.js';

/**
 * A first factor was right (password, or an OAuth provider) and the user has
 * MFA enabled: no session yet. Send `challengeToken` back with a code to
 * `MfaSignIn.completeMfaLogin` before `expiresAt` (5 minutes). The token is
 * single-use and shown once.
 */
export interface MfaChallengeResult {
  readonly status: 'mfa_required';
  readonly challengeToken: string;
  readonly expiresAt: Date;
  readonly methods: readonly ['totp', 'recovery_code'];
}

/**
 * A first factor was right, the organization requires MFA and the user has
 * none yet: no session. With `challengeToken`, call `MfaService.beginTotpEnrollment({ challengeToken })`,
 * then `MfaSignIn.completeMfaEnrollment` with the first code (5 minutes).
 */
export interface MfaEnrollmentRequiredResult {
  readonly status: 'mfa_enrollment_required';
  readonly challengeToken: string;
  readonly expiresAt: Date;
}

/**
 * The second-factor decision every sign-in makes (password and OAuth alike):
 * `sign_in` when the user has TOTP enabled, `enrollment` when the organization
 * requires MFA and the user has none, `undefined` when no second factor is due.
 */
/** The challenges a due second factor starts (a `password_change` ticket is `PasswordChangeTickets`'). */
export type SecondFactorPurpose = Exclude<MfaChallengePurpose, 'password_change'>;

export function secondFactorDue(mfaEnabled: boolean, settings: Pick<SecuritySettings, 'mfaRequired'>): SecondFactorPurpose | undefined {
  if (mfaEnabled) return 'sign_in';
  return settings.mfaRequired ? 'enrollment' : undefined;
}

/**
 * The second factor's place in every sign-in (password, OAuth, passkey first
 * factor): whether one is due ({@link isEnabled}, {@link secondFactorDue}) and
 * the challenge that asks for it ({@link startSignInChallenge}). Enrolment is
 * `MfaEnrollment`, checking a factor `SecondFactorCheck`, the signed-in user's
 * changes `MfaManagement`, completing the challenge `MfaSignIn`.
 */
@injectable()
@accessControlled
export class MfaService {
  constructor(
    @inject(MfaRepository) private readonly mfa: MfaRepository,
    @inject(MfaChallengeRepository) private readonly challenges: MfaChallengeRepository,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Whether the user must pass a second factor at sign-in (TOTP confirmed).
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async isEnabled(userId: string): Promise<boolean> {
    return (await this.mfa.status(userId)).enabledAt !== null;
  }

  /**
   * Creates the sign-in or enrolment challenge a first factor ends with when
   * {@link secondFactorDue} says so (shared by `PasswordSignIn.login` and
   * `OAuthSignIn`): the user's other open challenges are deleted, only the
   * token's hash is stored, and `auth.login.mfa_challenged` is audited.
   * @param details extra audit details (e.g. `{ via: 'oauth', provider }`)
   * @param flags.passwordChangeDue the password must be changed after the second factor (the challenge ends in a ticket)
   * @returns the token (shown once; never log it) and its expiry — no session
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async startSignInChallenge(
    user: UserRecord,
    organizationId: string,
    purpose: SecondFactorPurpose,
    client: ParsedClientContext,
    details: Record<string, unknown> = {},
    flags: { readonly passwordChangeDue?: boolean } = {},
  ): Promise<MfaChallengeResult | MfaEnrollmentRequiredResult> {
    const { token, challenge } = await this.challenges.create(user.id, organizationId, purpose, MFA_CHALLENGE_TTL_SECONDS, flags);
    await recordAuditEvent(this.audit, this.logger, {
      eventType: 'auth.login.mfa_challenged',
      organizationId,
      actorUserId: user.id,
      ...clientAuditFields(client),
      details: { ...details, challengeId: challenge.id, purpose },
    });
    return purpose === 'sign_in'
      ? { status: 'mfa_required', challengeToken: token, expiresAt: challenge.expiresAt, methods: ['totp', 'recovery_code'] }
      : { status: 'mfa_enrollment_required', challengeToken: token, expiresAt: challenge.expiresAt };
  }
}
