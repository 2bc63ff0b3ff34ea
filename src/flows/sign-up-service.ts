import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { parseInput } from '../parse-input.js';
import { AccountRepository } from '../postgres/repositories/account-repository.js';
import { AuditWriter } from '../postgres/repositories/audit-writer.js';
import { ConsentService, type CreateUserWithConsentInput } from './consent-service.js';
import { OrganizationRepository, type OrganizationRecord } from '../postgres/repositories/organization-repository.js';
import { UserRepository, type UserRecord } from '../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../security/password-hasher.js';
import { PasswordPolicy } from '../security/password-policy.js';
import { LOGGER } from '../tokens.js';
import { accessControlled, declareAccess } from '../tenancy/declare-access.js';

const signUpInput = z
  .object({
    email: z.email().max(320),
    password: z.string().min(1).max(1024),
    displayName: z.string().trim().min(1).max(200).optional(),
    organizationName: z.string().trim().min(1).max(200),
    /** Default: derived from the organization name plus a random suffix. */
    organizationSlug: z.string().min(1).max(63).optional(),
    termsVersion: z.string().min(1).max(50).optional(),
    privacyVersion: z.string().min(1).max(50).optional(),
    marketingConsentVersion: z.string().min(1).max(50).optional(),
    /** COPPA: confirm the minimum age, or give a birth date (never stored) — under the minimum age guardian consent is required. */
    ageConfirmed: z.boolean().optional(),
    birthDate: z.date().optional(),
    guardianConsent: z.unknown().optional(),
    /** Create the user `active` (e.g. seeded demo accounts, or an invitation that proved the email). Default: `pending_verification`. */
    emailVerified: z.boolean().default(false),
  })
  .strict();
export type SignUpInput = z.input<typeof signUpInput>;

export interface SignUpResult {
  readonly user: UserRecord;
  readonly organization: OrganizationRecord;
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
 * Self-service sign-up: a new organization with its first owner. The password
 * policy runs before anything is written; the hash is bcrypt. The user and the
 * organization are two owner-pool transactions (they belong to two
 * repositories); when the second fails (a taken slug), the user is deleted
 * again while it is still an orphan, so the email is not left blocked.
 */
@injectable()
@accessControlled
export class SignUpService {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(OrganizationRepository) private readonly organizations: OrganizationRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(PasswordPolicy) private readonly policy: PasswordPolicy,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(ConsentService) private readonly consent: ConsentService,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * @throws ValidationError naming the field (`email`, `password` with the broken rules as codes, `organizationSlug` …)
   * @throws ConflictError `users_email_key` (email taken) or `organizations_slug_key` (slug taken)
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async signUp(input: SignUpInput): Promise<SignUpResult> {
    const d = parseInput(signUpInput, input);
    await this.policy.assert(d.password, { email: d.email });
    // The age rule is checked before anything is written; createUser checks it again and records the consents.
    this.consent.checkAge({ birthDate: d.birthDate, ageConfirmed: d.ageConfirmed, guardianConsent: d.guardianConsent });
    const passwordHash = await this.hasher.hash(d.password);
    const { user } = await this.consent.createUser({
      email: d.email,
      passwordHash,
      status: 'pending_verification',
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
      organization = await this.organizations.create({ name: d.organizationName, slug: d.organizationSlug ?? slugFor(d.organizationName), ownerUserId: user.id });
    } catch (error) {
      await this.accounts.deleteOrphanUser(user.id).catch((cleanup: unknown) => this.logger.error('sign-up compensation failed: orphan user left', { userId: user.id, error: cleanup }));
      throw error;
    }
    // setStatus stamps email_verified_at, which create does not.
    const finalUser = d.emailVerified ? await this.users.setStatus(user.id, 'active') : user;
    await this.audit
      .record({ eventType: 'auth.signup', organizationId: organization.id, actorUserId: user.id, details: { method: 'password' } })
      .catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: 'auth.signup', error }));
    return { user: finalUser, organization };
  }
}
