import { inject, injectable } from 'tsyringe';
import { ConflictError, NotFoundError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { MfaRepository } from '../../postgres/repositories/mfa-repository.js';
import { generateRecoveryCodes } from '../../security/recovery-codes.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { OrganizationSecurity } from '../organizations/organization-security.js';
import { mfaProofSchema, SecondFactorCheck, totpCodeInput, type MfaProof } from './second-factor-check.js';

/** What disabling TOTP reports. */
export interface TotpDisabled {
  readonly disabledAt: Date;
}

/**
 * The signed-in user's changes to an enabled second factor — turn TOTP off,
 * replace the recovery codes — each proven by a fresh second factor
 * ({@link SecondFactorCheck.verifySignedIn}, behind the sign-in throttle).
 */
@injectable()
@accessControlled
export class MfaManagement {
  constructor(
    @inject(MfaRepository) private readonly mfa: MfaRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(OrganizationSecurity) private readonly security: OrganizationSecurity,
    @inject(SecondFactorCheck) private readonly check: SecondFactorCheck,
  ) {}

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
    const method = await this.check.verifySignedIn(c, input.proof);
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
    await this.check.verifySignedIn(c, { code: input.code });
    const recovery = generateRecoveryCodes();
    await this.mfa.replaceRecoveryCodes(c.userId, recovery.hashes, {
      events: [{ eventType: 'auth.mfa.recovery_codes_regenerated', organizationId: c.organizationId, actorUserId: c.userId, riskScore: 20, details: {} }],
    });
    return { recoveryCodes: recovery.codes };
  }

  async #assertEnabled(userId: string): Promise<void> {
    if ((await this.mfa.status(userId)).enabledAt === null) throw new NotFoundError('mfa', userId);
  }
}
