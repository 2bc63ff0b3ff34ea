import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, InvalidMfaCodeError, NotFoundError, StoreUnavailableError, TenantAccessError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import type { AuditEventInput } from '../../postgres/repositories/audit-repository.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { MfaChallengeRepository, MFA_CHALLENGE_TTL_SECONDS, type MfaChallengePurpose } from '../../postgres/repositories/mfa-challenge-repository.js';
import { MfaRepository } from '../../postgres/repositories/mfa-repository.js';
import type { SecuritySettings } from '../../postgres/repositories/security-settings-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { LoginThrottle } from '../../redis/repositories/login-throttle.js';
import { generateRecoveryCodes } from '../../security/recovery-codes.js';
import { Totp } from '../../security/totp.js';
import { isTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';
import { AUTH_FLOW_OPTIONS, LOGGER } from '../../tokens.js';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import { clientAuditFields, type ParsedClientContext } from './client-context.js';
import { OrganizationSecurity } from '../organizations/organization-security.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { PasskeyError } from '../../errors.js';
import { authenticationResponseSchema, PasskeyCeremony, passkeyUseAudit } from './passkey-ceremony.js';

/**
 * A second factor as the client presents it: a code from the authenticator app, one recovery code, or a passkey
 * assertion answering `PasskeySignIn.beginSecondFactor(challengeToken)` (`credential.toJSON()`).
 */
export type MfaProof = { readonly code: string } | { readonly recoveryCode: string } | { readonly passkey: AuthenticationResponseJSON };

/** Which second factor passed. */
export type MfaMethod = 'totp' | 'recovery_code' | 'passkey';

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

/** What disabling TOTP reports. */
export interface TotpDisabled {
  readonly disabledAt: Date;
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

// Six digits, spaces allowed (apps show "123 456"); anything else cannot be a code.
export const totpCodeInput = z
  .string()
  .max(16)
  .regex(/^\s*\d{3}\s?\d{3}\s*$/, 'must be the 6-digit code from the authenticator app');
// Formatting is normalised by the repository (case, hyphens, o→0, i/l→1); this only bounds the input.
export const recoveryCodeInput = z.string().trim().min(16).max(64);
export const mfaProofSchema = z.union([
  z.object({ code: totpCodeInput }).strict(),
  z.object({ recoveryCode: recoveryCodeInput }).strict(),
  z.object({ passkey: authenticationResponseSchema }).strict(),
]);

const DEFAULT_TOTP_ISSUER = 'platform-data';

/**
 * TOTP enrolment and second-factor checks. The sign-in half (challenges,
 * lockout, the session) is `MfaSignIn.completeMfaLogin`; this class owns
 * what touches the secret and the recovery codes.
 *
 * - Enrolment: `beginTotpEnrollment` stores a new secret encrypted (not yet
 *   enabled) and returns it once; `confirmTotpEnrollment` checks the first
 *   code, enables MFA and returns ten recovery codes once (hashes stored).
 * - Verification: a TOTP code is accepted only if its time step is newer
 *   than the last accepted one, recorded with a compare-and-set
 *   (`MfaRepository.recordTimeStep`), so a code works once even when two
 *   requests race; a recovery code is consumed by one atomic UPDATE.
 */
// Eleven dependencies: the second factor has three kinds (TOTP, recovery codes, passkeys) and
// enrolment; each dependency is one of those stores or their policy, none is a second concern.
@injectable()
@accessControlled
export class MfaService {
  constructor(
    @inject(MfaRepository) private readonly mfa: MfaRepository,
    @inject(MfaChallengeRepository) private readonly challenges: MfaChallengeRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(OrganizationSecurity) private readonly security: OrganizationSecurity,
    @inject(LoginThrottle) private readonly throttle: LoginThrottle,
    @inject(Totp) private readonly totp: Totp,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(PasskeyCeremony) private readonly passkeys: PasskeyCeremony,
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
  @declareAccess({ preTenant: "MFA flows of MfaService/MfaSignIn, which check the caller first; takes the user's own context or a sign-in challenge token" })
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
   * Whether the user must pass a second factor at sign-in (TOTP confirmed).
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'MFA flows of MfaService/MfaSignIn, which check the caller first' })
  async isEnabled(userId: string): Promise<boolean> {
    return (await this.mfa.status(userId)).enabledAt !== null;
  }

  /**
   * Checks a second factor of a user with MFA enabled; the flow counts failures.
   * A recovery code used writes `auth.mfa.recovery_code_used` (risk 40) for
   * `organizationId` in the transaction that spends it.
   * @returns which factor was used
   * @throws ValidationError naming `code` / `recoveryCode`
   * @throws InvalidMfaCodeError `invalid` (wrong code, unknown or used recovery code) / `replayed`
   */
  @declareAccess({ preTenant: 'MFA flows of MfaService/MfaSignIn, which check the caller first' })
  async verify(userId: string, proof: MfaProof, organizationId?: string): Promise<MfaMethod> {
    const p = parseInput(mfaProofSchema, proof);
    if ('passkey' in p) {
      try {
        // The passkey's challenge is consumed, its counter advanced and its use audited by the ceremony.
        await this.passkeys.verifyAssertion(p.passkey, userId, passkeyUseAudit({}, null, 'second_factor'));
      } catch (error) {
        // Counted like a wrong code by the caller (throttle, lockout, challenge attempts); a counter regression is audited already.
        if (error instanceof PasskeyError) throw new InvalidMfaCodeError('invalid');
        throw error;
      }
      return 'passkey';
    }
    if ('recoveryCode' in p) {
      const used = await this.mfa.useRecoveryCode(userId, p.recoveryCode, {
        events: [{ eventType: 'auth.mfa.recovery_code_used', organizationId: organizationId ?? null, actorUserId: userId, riskScore: 40, details: {} }],
      });
      if (!used) throw new InvalidMfaCodeError('invalid');
      return 'recovery_code';
    }
    const stored = await this.mfa.getSecret(userId);
    // MFA disabled between the challenge and now: nothing to check against, so nothing passes.
    if (!stored || stored.enabledAt === null) throw new InvalidMfaCodeError('invalid');
    const result = await this.totp.verify(stored.secret, p.code, { afterTimeStep: stored.lastUsedStep ?? undefined });
    if (!result.valid) throw new InvalidMfaCodeError(result.reason === 'replayed' ? 'replayed' : 'invalid');
    // The compare-and-set settles a race between two requests carrying the same code: one wins.
    if (!(await this.mfa.recordTimeStep(userId, result.timeStep))) throw new InvalidMfaCodeError('replayed');
    return 'totp';
  }

  /**
   * Confirms a started enrolment with its first code and issues recovery codes;
   * writes `auth.mfa.enabled` for `audit.organizationId`.
   * @throws ValidationError naming `code`
   * @throws InvalidMfaCodeError when the code does not match
   * @throws NotFoundError when no enrolment was started; ConflictError `mfa_already_enabled`
   */
  @declareAccess({ preTenant: 'MFA flows of MfaService/MfaSignIn, which check the caller first' })
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
    await this.#audit({
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

  /**
   * Turns TOTP off for the signed-in user, who proves the second factor again
   * (a current code or an unused recovery code): the secret and every recovery
   * code are deleted. Refused while any organization of the user requires MFA.
   * Wrong codes count in the sign-in throttle (Redis), not the account lockout.
   * @throws ValidationError naming `ctx.*` / `proof.code` / `proof.recoveryCode`
   * @throws NotFoundError when MFA is not enabled
   * @throws ConflictError `mfa_required_by_organization`
   * @throws InvalidMfaCodeError `invalid` / `replayed`; RateLimitedError
   */
  @declareAccess({ ownAccount: true })
  async disableTotp(ctx: TenantContext, proof: MfaProof): Promise<TotpDisabled> {
    const input = { proof: parseInput(mfaProofSchema, proof, 'proof') };
    const c = ctx;
    await this.#assertEnabled(c.userId);
    const memberships = await this.accounts.listMemberships(c.userId);
    const settings = await Promise.all(memberships.map((m) => this.security.current(m.organizationId)));
    if (settings.some((s) => s.mfaRequired)) {
      throw new ConflictError('An organization of this user requires MFA; it cannot be disabled', {
        store: 'postgres',
        constraint: 'mfa_required_by_organization',
      });
    }
    const method = await this.#verifySignedIn(c, input.proof);
    await this.mfa.disable(c.userId, {
      events: [{ eventType: 'auth.mfa.disabled', organizationId: c.organizationId, actorUserId: c.userId, riskScore: 40, details: { method } }],
    });
    return { disabledAt: new Date() };
  }

  /**
   * Replaces the signed-in user's recovery codes after a valid TOTP code: the
   * old codes stop working at once; the new ones are returned once (hashes stored).
   * @throws ValidationError naming `ctx.*` / `code`
   * @throws NotFoundError when MFA is not enabled
   * @throws InvalidMfaCodeError `invalid` / `replayed`; RateLimitedError
   */
  @declareAccess({ ownAccount: true })
  async regenerateRecoveryCodes(ctx: TenantContext, code: string): Promise<{ readonly recoveryCodes: readonly string[] }> {
    const input = { code: parseInput(totpCodeInput, code, 'code') };
    const c = ctx;
    await this.#assertEnabled(c.userId);
    await this.#verifySignedIn(c, { code: input.code });
    const recovery = generateRecoveryCodes();
    await this.mfa.replaceRecoveryCodes(c.userId, recovery.hashes, {
      events: [{ eventType: 'auth.mfa.recovery_codes_regenerated', organizationId: c.organizationId, actorUserId: c.userId, riskScore: 20, details: {} }],
    });
    return { recoveryCodes: recovery.codes };
  }

  async #assertEnabled(userId: string): Promise<void> {
    if (!(await this.isEnabled(userId))) throw new NotFoundError('mfa', userId);
  }

  /** {@link verify} for a signed-in user, behind the sign-in throttle (a stolen session must not guess codes freely). */
  async #verifySignedIn(c: TenantContext, proof: MfaProof): Promise<MfaMethod> {
    const user = await this.users.getById(c.userId);
    if (!user) throw new NotFoundError('user', c.userId);
    const attempt = { email: user.email };
    await this.throttle.check(attempt).catch((error: unknown) => {
      if (error instanceof StoreUnavailableError) return this.logger.warn('login throttle unavailable; MFA check not throttled', { error });
      throw error;
    });
    try {
      return await this.verify(c.userId, proof, c.organizationId);
    } catch (error) {
      if (error instanceof InvalidMfaCodeError) {
        await this.throttle.recordFailure(attempt).catch((e: unknown) => this.logger.warn('login throttle unavailable; failure not counted', { error: e }));
        await this.#audit({
          eventType: 'auth.mfa.verification_failed',
          organizationId: c.organizationId,
          actorUserId: c.userId,
          riskScore: 30,
          details: { reason: error.reason },
        });
      }
      throw error;
    }
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

  async #audit(event: AuditEventInput): Promise<void> {
    await this.audit.record(event).catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: event.eventType, error }));
  }
}
