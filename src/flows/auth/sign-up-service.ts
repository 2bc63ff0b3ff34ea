import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { ConflictError } from '../../errors.js';
import type { AuditEventInput } from '../../postgres/repositories/audit-repository.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { ConsentService, type CreateUserWithConsentInput } from '../privacy/consent-service.js';
import { OrganizationRepository, type OrganizationRecord } from '../../postgres/repositories/organization-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { PasswordPolicy } from '../../security/password-policy.js';
import { LOGGER } from '../../tokens.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { type AuthNotifier } from '../../auth-notifier.js';
import { AUTH_NOTIFIER } from '../../tokens.js';
import { VerificationService, type EmailRequestAccepted } from './verification-service.js';

const accountFields = {
  email: z.email().max(320),
  password: z.string().min(1).max(1024),
  displayName: z.string().trim().min(1).max(200).optional(),
  organizationName: z.string().trim().min(1).max(200),
  termsVersion: z.string().min(1).max(50).optional(),
  privacyVersion: z.string().min(1).max(50).optional(),
  marketingConsentVersion: z.string().min(1).max(50).optional(),
  /** COPPA: confirm the minimum age, or give a birth date (never stored) — under the minimum age guardian consent is required. */
  ageConfirmed: z.boolean().optional(),
  birthDate: z.date().optional(),
  guardianConsent: z.unknown().optional(),
};
// Self-service: no slug (a taken one would answer differently for a new and an existing address) and no "verified".
const signUpInput = z.object(accountFields).strict();
const createAccountInput = z
  .object({
    ...accountFields,
    /** Default: derived from the organization name plus a random suffix. */
    organizationSlug: z.string().min(1).max(63).optional(),
    /** Create the user `active` (e.g. seeded demo accounts, or an invitation that proved the email). Default: `pending_verification`. */
    emailVerified: z.boolean().default(false),
    /** The password must be changed at the first sign-in (a seeded administrator's): the sign-in answers with a ticket. */
    mustChangePassword: z.boolean().default(false),
  })
  .strict();
export type SignUpInput = z.input<typeof signUpInput>;
export type CreateAccountInput = z.input<typeof createAccountInput>;

/** What `createAccount` returns: the new owner and organization. */
export interface CreatedAccount {
  readonly user: UserRecord;
  readonly organization: OrganizationRecord;
}

const ACCEPTED: EmailRequestAccepted = Object.freeze({ accepted: true });

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
 * Sign-up: a new organization with its first owner. The password policy runs
 * before anything is written; the hash is bcrypt. The user and the
 * organization are two owner-pool transactions (they belong to two
 * repositories); when the second fails (a taken slug), the user is deleted
 * again while it is still an orphan, so the email is not left blocked.
 *
 * `signUp` is the self-service door and does not enumerate (OWASP ASVS v4
 * 2.2.1 / 3.x, "the same answer for a new and an existing address"); `createAccount`
 * is for trusted callers (seeding, admin tools, invitations) and says what happened.
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
    @inject(VerificationService) private readonly verification: VerificationService,
    @inject(AUTH_NOTIFIER) private readonly notifier: AuthNotifier,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Self-service sign-up. Answers `{ accepted: true }` whether the address is
   * new or already has an account (in any letter case): a new account is
   * created `pending_verification` and sent a verification link
   * (`AuthNotifier.emailVerification`); the owner of an existing one is told
   * through `AuthNotifier.signUpWithExistingEmail` and nothing is created.
   * @throws ValidationError naming the field (`email`, `password` with the broken rules as codes, `ageConfirmed` …) — for both cases alike
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async signUp(input: SignUpInput): Promise<EmailRequestAccepted> {
    const d = parseInput(signUpInput, input);
    let created: CreatedAccount;
    try {
      created = await this.#create({ ...d, emailVerified: false, mustChangePassword: false });
    } catch (error) {
      if (!(error instanceof ConflictError && error.constraint === 'users_email_key')) throw error;
      await this.#tellExistingOwner(d.email);
      return ACCEPTED;
    }
    await this.verification.requestEmailVerification(created.user.id);
    return ACCEPTED;
  }

  /**
   * Creates the account directly, for trusted callers only (seeding, admin
   * tools, an invitation that proved the address): it tells whether the address
   * was taken, so never put it behind a public endpoint.
   * @throws ValidationError naming the field (`email`, `password` with the broken rules as codes, `organizationSlug` …)
   * @throws ConflictError `users_email_key` (email taken) or `organizations_slug_key` (slug taken)
   */
  @declareAccess({ preTenant: 'account creation by a trusted caller (seeding, admin tools): the account and its first organization do not exist yet' })
  async createAccount(input: CreateAccountInput): Promise<CreatedAccount> {
    return this.#create(parseInput(createAccountInput, input));
  }

  async #create(d: z.output<typeof createAccountInput>): Promise<CreatedAccount> {
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
    await this.#audit({ eventType: 'auth.signup', organizationId: organization.id, actorUserId: user.id, details: { method: 'password' } });
    return { user: finalUser, organization };
  }

  /** The address has an account: its owner hears of the attempt; the caller hears nothing different. */
  async #tellExistingOwner(email: string): Promise<void> {
    const existing = await this.users.findCredentialsByEmail(email);
    if (!existing || existing.user.status === 'deleted') return;
    const { user } = existing;
    await this.notifier
      .signUpWithExistingEmail({ userId: user.id, email: user.email })
      .catch((error: unknown) => this.logger.error('sign-up-with-existing-email notice not delivered', { userId: user.id, error }));
    await this.#audit({ eventType: 'auth.signup.existing_email', organizationId: null, actorUserId: user.id, riskScore: 20, details: { method: 'password' } });
  }

  async #audit(event: AuditEventInput): Promise<void> {
    await this.audit.record(event).catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: event.eventType, error }));
  }
}
