import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { InvalidMfaCodeError, NotFoundError, PasskeyError, StoreUnavailableError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { MfaRepository } from '../../postgres/repositories/mfa-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { LoginThrottle } from '../../redis/repositories/login-throttle.js';
import { Totp } from '../../security/totp.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { LOGGER } from '../../tokens.js';
import { recordAuditEvent } from '../record-audit-event.js';
import { authenticationResponseSchema, PasskeyCeremony, passkeyUseAudit } from './passkey-ceremony.js';

/**
 * A second factor as the client presents it: a code from the authenticator app, one recovery code, or a passkey
 * assertion answering `PasskeySignIn.beginSecondFactor(challengeToken)` (`credential.toJSON()`).
 */
export type MfaProof = { readonly code: string } | { readonly recoveryCode: string } | { readonly passkey: AuthenticationResponseJSON };

/** Which second factor passed. */
export type MfaMethod = 'totp' | 'recovery_code' | 'passkey';

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

/**
 * Checks a second factor of a user with MFA enabled: a TOTP code is accepted
 * only if its time step is newer than the last accepted one, recorded with a
 * compare-and-set (`MfaRepository.recordTimeStep`), so a code works once even
 * when two requests race; a recovery code is consumed by one atomic UPDATE; a
 * passkey assertion is checked by the ceremony. `MfaSignIn` calls {@link verify}
 * with its challenge's bookkeeping; `MfaManagement` calls {@link verifySignedIn}.
 */
@injectable()
@accessControlled
export class SecondFactorCheck {
  constructor(
    @inject(MfaRepository) private readonly mfa: MfaRepository,
    @inject(Totp) private readonly totp: Totp,
    @inject(PasskeyCeremony) private readonly passkeys: PasskeyCeremony,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(LoginThrottle) private readonly throttle: LoginThrottle,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Checks a second factor of a user with MFA enabled; the flow counts failures.
   * A recovery code used writes `auth.mfa.recovery_code_used` (risk 40) for
   * `organizationId` in the transaction that spends it.
   * @returns which factor was used
   * @throws ValidationError naming `code` / `recoveryCode`
   * @throws InvalidMfaCodeError `invalid` (wrong code, unknown or used recovery code) / `replayed`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
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
   * {@link verify} for the signed-in user, behind the sign-in throttle (a stolen session must not
   * guess codes freely): a wrong code counts in the throttle (Redis, not the account lockout) and
   * writes `auth.mfa.verification_failed` (risk 30).
   * @throws ValidationError naming `code` / `recoveryCode`
   * @throws InvalidMfaCodeError `invalid` / `replayed`; RateLimitedError
   */
  @declareAccess({ ownAccount: true })
  async verifySignedIn(c: TenantContext, proof: MfaProof): Promise<MfaMethod> {
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
        await recordAuditEvent(this.audit, this.logger, {
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
}
