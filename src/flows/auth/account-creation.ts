import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { AuditRepository } from '../../postgres/repositories/audit-repository.js';
import { OrganizationRepository, type OrganizationRecord } from '../../postgres/repositories/organization-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { PasswordPolicy } from '../../security/password-policy.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { ConsentService, type CreateUserWithConsentInput } from '../privacy/consent-service.js';

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
 * A new organization with its first owner. The password policy and the age
 * rule run before anything is written, and the bcrypt hash is computed before
 * the transaction opens (no transaction is held through bcrypt). Then ONE
 * transaction on the application role writes the user with its consents, the
 * verified status, the organization with the owner membership and default
 * security settings, and the `auth.signup` audit event: the user's rows in the
 * user's own scope, the organization's in its tenant scope (row-level security
 * admits each statement, sql/0070). A failure (a taken slug) or a crash at any
 * point leaves nothing — no orphan user holding the email.
 */
@injectable()
@accessControlled
export class AccountCreation {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(OrganizationRepository) private readonly organizations: OrganizationRepository,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(PasswordPolicy) private readonly policy: PasswordPolicy,
    @inject(ConsentService) private readonly consent: ConsentService,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Writes the owner user (with consents), the organization and the signup audit event in one transaction.
   * Callers parse and authorize first (`SignUpService`).
   * @throws ValidationError (password policy, age rule, organization name / slug); ConflictError `users_email_key` / `organizations_slug_key` (nothing written)
   */
  @declareAccess({ preTenant: 'account creation through SignUpService, which parses its input first' })
  async create(d: AccountCreationInput): Promise<CreatedAccount> {
    await this.policy.assert(d.password, { email: d.email });
    // The age rule is checked before anything is written; createUserWith checks it again and records the consents.
    this.consent.checkAge({ birthDate: d.birthDate, ageConfirmed: d.ageConfirmed, guardianConsent: d.guardianConsent });
    const passwordHash = await this.hasher.hash(d.password);
    const [, account] = await this.consent.createUserWith(
      {
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
      },
      async (tx, user): Promise<CreatedAccount> => {
        // setStatus stamps email_verified_at, which the insert does not.
        const owner = d.emailVerified ? await this.users.setStatusWithin(tx, user.id, 'active') : user;
        const organization = await this.organizations.createWithin(tx, {
          name: d.organizationName,
          slug: d.organizationSlug ?? slugFor(d.organizationName),
          ownerUserId: user.id,
        });
        // A security event of the change, in its transaction (the organization's scope now): it exists exactly when the account does.
        await this.audit.appendWithin(tx, [
          { eventType: 'auth.signup', organizationId: organization.id, actorUserId: user.id, details: { method: 'password' } },
        ]);
        return { user: owner, organization };
      },
    );
    return account;
  }
}
