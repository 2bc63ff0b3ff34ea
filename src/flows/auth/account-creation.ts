import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import type { Logger } from '../../logger.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { OrganizationRepository, type OrganizationRecord } from '../../postgres/repositories/organization-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { PasswordPolicy } from '../../security/password-policy.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { LOGGER } from '../../tokens.js';
import { ConsentService, type CreateUserWithConsentInput } from '../privacy/consent-service.js';
import { recordAuditEvent } from '../record-audit-event.js';

/** What `createAccount` returns: the new owner and organization. */
export interface CreatedAccount {
  readonly user: UserRecord;
  readonly organization: OrganizationRecord;
}

/** A parsed account: the fields of `SignUpService.createAccount` after validation. */
export interface AccountCreationInput {
  readonly email: string;
  readonly password: string;
  readonly displayName?: string | undefined;
  readonly organizationName: string;
  readonly organizationSlug?: string | undefined;
  readonly termsVersion?: string | undefined;
  readonly privacyVersion?: string | undefined;
  readonly marketingConsentVersion?: string | undefined;
  readonly ageConfirmed?: boolean | undefined;
  readonly birthDate?: Date | undefined;
  readonly guardianConsent?: unknown;
  readonly emailVerified: boolean;
  /** The password must be changed at the first sign-in. */
  readonly mustChangePassword: boolean;
}

/** `Acme Corp!` → `acme-corp-7f3a`: readable, and the suffix makes collisions unlikely. */
export function slugFor(name: string): string {
  const base = name
    .normalize('NFKD')
    // Accents become their base letter (é → e) instead of a hyphen.
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50)
    .replace(/-+$/, '');
  return `${base || 'org'}-${randomBytes(3).toString('hex')}`;
}

/**
 * A new organization with its first owner. The password policy runs before
 * anything is written; the hash is bcrypt. The user and the organization are
 * two owner-pool transactions (they belong to two repositories); when the
 * second fails (a taken slug), the user is deleted again while it is still an
 * orphan, so the email is not left blocked.
 */
@injectable()
@accessControlled
export class AccountCreation {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(OrganizationRepository) private readonly organizations: OrganizationRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(PasswordPolicy) private readonly policy: PasswordPolicy,
    @inject(ConsentService) private readonly consent: ConsentService,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Writes the owner user (with consents) and the organization; a failure of the second deletes the
   * first again while it is still an orphan. Callers parse and authorize first (`SignUpService`).
   * @throws ValidationError (password policy, age rule); ConflictError `users_email_key` / `organizations_slug_key`
   */
  @declareAccess({ preTenant: 'account creation through SignUpService, which parses its input first' })
  async create(d: AccountCreationInput): Promise<CreatedAccount> {
    await this.policy.assert(d.password, { email: d.email });
    // The age rule is checked before anything is written; createUser checks it again and records the consents.
    this.consent.checkAge({ birthDate: d.birthDate, ageConfirmed: d.ageConfirmed, guardianConsent: d.guardianConsent });
    const passwordHash = await this.hasher.hash(d.password);
    const { user } = await this.consent.createUser({
      email: d.email,
      passwordHash,
      status: 'pending_verification',
      mustChangePassword: d.mustChangePassword,
      ...(d.displayName === undefined ? {} : { displayName: d.displayName }),
      ...(d.termsVersion === undefined ? {} : { termsVersion: d.termsVersion }),
      ...(d.privacyVersion === undefined ? {} : { privacyVersion: d.privacyVersion }),
      ...(d.marketingConsentVersion === undefined ? {} : { marketingConsentVersion: d.marketingConsentVersion }),
      ...(d.ageConfirmed === undefined ? {} : { ageConfirmed: d.ageConfirmed }),
      ...(d.birthDate === undefined ? {} : { birthDate: d.birthDate }),
      ...(d.guardianConsent === undefined ? {} : { guardianConsent: d.guardianConsent as CreateUserWithConsentInput['guardianConsent'] }),
    });
    let organization: OrganizationRecord;
    try {
      organization = await this.organizations.create({
        name: d.organizationName,
        slug: d.organizationSlug ?? slugFor(d.organizationName),
        ownerUserId: user.id,
      });
    } catch (error) {
      await this.accounts
        .deleteOrphanUser(user.id)
        .catch((cleanup: unknown) => this.logger.error('sign-up compensation failed: orphan user left', { userId: user.id, error: cleanup }));
      throw error;
    }
    // setStatus stamps email_verified_at, which create does not.
    const finalUser = d.emailVerified ? await this.users.setStatus(user.id, 'active') : user;
    await recordAuditEvent(this.audit, this.logger, {
      eventType: 'auth.signup',
      organizationId: organization.id,
      actorUserId: user.id,
      details: { method: 'password' },
    });
    return { user: finalUser, organization };
  }
}
