import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, InvalidMfaCodeError, NotFoundError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseInput } from '../parse-input.js';
import { AuditWriter } from '../postgres/repositories/audit-writer.js';
import type { AuditEventInput } from '../postgres/repositories/audit-repository.js';
import { MfaChallengeRepository } from '../postgres/repositories/mfa-challenge-repository.js';
import { MfaRepository } from '../postgres/repositories/mfa-repository.js';
import { UserRepository } from '../postgres/repositories/user-repository.js';
import { generateRecoveryCodes } from '../security/recovery-codes.js';
import { Totp } from '../security/totp.js';
import { tenantContextSchema, type TenantContext } from '../tenancy/tenant-context.js';
import { LOGGER } from '../tokens.js';
import { AUTH_FLOW_OPTIONS, type AuthFlowOptions } from './auth-flow-options.js';

/** A second factor as the client presents it: a code from the authenticator app, or one recovery code. */
export type MfaProof = { readonly code: string } | { readonly recoveryCode: string };

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
export const totpCodeInput = z.string().max(16).regex(/^\s*\d{3}\s?\d{3}\s*$/, 'must be the 6-digit code from the authenticator app');
// Formatting is normalised by the repository (case, hyphens, o→0, i/l→1); this only bounds the input.
export const recoveryCodeInput = z.string().trim().min(16).max(64);
export const mfaProofSchema = z.union([z.object({ code: totpCodeInput }).strict(), z.object({ recoveryCode: recoveryCodeInput }).strict()]);

const DEFAULT_TOTP_ISSUER = 'platform-data';

/**
 * TOTP enrolment and second-factor checks. The sign-in half (challenges,
 * lockout, the session) is `AuthService.completeMfaLogin`; this class owns
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
@injectable()
export class MfaService {
  constructor(
    @inject(MfaRepository) private readonly mfa: MfaRepository,
    @inject(MfaChallengeRepository) private readonly challenges: MfaChallengeRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(Totp) private readonly totp: Totp,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Starts (or restarts, while not yet confirmed) a TOTP enrolment for the
   * signed-in user (`TenantContext`), or for a user whose sign-in returned
   * `mfa_enrollment_required` (`{ challengeToken }`; finish that one with
   * `AuthService.completeMfaEnrollment`).
   * @throws ValidationError naming `ctx.*` / `challengeToken`
   * @throws TokenError `invalid` / `consumed` / `expired` for a bad challenge token
   * @throws ConflictError `mfa_already_enabled` when MFA is already on
   */
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
  async confirmTotpEnrollment(ctx: TenantContext, code: string): Promise<TotpEnabled> {
    const c = parseInput(tenantContextSchema, ctx, 'ctx');
    const enabled = await this.enableWithCode(c.userId, code);
    await this.#audit({ eventType: 'auth.mfa.enabled', organizationId: c.organizationId, actorUserId: c.userId, details: { method: 'totp' } });
    return enabled;
  }

  /**
   * Whether the user must pass a second factor at sign-in (TOTP confirmed).
   * @throws ValidationError naming `userId`
   */
  async isEnabled(userId: string): Promise<boolean> {
    return (await this.mfa.status(userId)).enabledAt !== null;
  }

  /**
   * Checks a second factor of a user with MFA enabled; the flow counts failures.
   * @returns which factor was used
   * @throws ValidationError naming `code` / `recoveryCode`
   * @throws InvalidMfaCodeError `invalid` (wrong code, unknown or used recovery code) / `replayed`
   */
  async verify(userId: string, proof: MfaProof): Promise<'totp' | 'recovery_code'> {
    const p = parseInput(mfaProofSchema, proof);
    if ('recoveryCode' in p) {
      if (!(await this.mfa.useRecoveryCode(userId, p.recoveryCode))) throw new InvalidMfaCodeError('invalid');
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
   * Confirms a started enrolment with its first code and issues recovery codes.
   * @throws ValidationError naming `code`
   * @throws InvalidMfaCodeError when the code does not match
   * @throws NotFoundError when no enrolment was started; ConflictError `mfa_already_enabled`
   */
  async enableWithCode(userId: string, code: string): Promise<TotpEnabled> {
    const c = parseInput(totpCodeInput, code, 'code');
    const stored = await this.mfa.getSecret(userId);
    if (!stored) throw new NotFoundError('mfa enrolment', userId);
    if (stored.enabledAt !== null) throw new ConflictError('MFA is already enabled', { store: 'postgres', constraint: 'mfa_already_enabled' });
    const result = await this.totp.verify(stored.secret, c, { afterTimeStep: stored.lastUsedStep ?? undefined });
    if (!result.valid) throw new InvalidMfaCodeError(result.reason === 'replayed' ? 'replayed' : 'invalid');
    const enabledAt = await this.mfa.enable(userId, result.timeStep);
    const recovery = generateRecoveryCodes();
    await this.mfa.replaceRecoveryCodes(userId, recovery.hashes);
    return { enabledAt, recoveryCodes: recovery.codes };
  }

  async #subjectUserId(subject: TenantContext | { readonly challengeToken: string }): Promise<string> {
    if ('challengeToken' in subject) {
      const { challengeToken } = parseInput(z.object({ challengeToken: z.string().min(1).max(512) }).strict(), subject);
      const challenge = await this.challenges.findActive(challengeToken, 'enrollment');
      return challenge.userId;
    }
    return parseInput(tenantContextSchema, subject, 'ctx').userId;
  }

  async #audit(event: AuditEventInput): Promise<void> {
    await this.audit.record(event).catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: event.eventType, error }));
  }
}
