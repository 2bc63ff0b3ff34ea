import { inject, injectable } from 'tsyringe';
import type { PostgresTransaction } from '../../postgres/postgres-transaction.js';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { ValidationError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { ConsentRepository, type ConsentEvent, type ConsentInput } from '../../postgres/repositories/consent-repository.js';
import { UserRepository, type CreateUserInput, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { CONFIG } from '../../tokens.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** How a guardian's consent was verified (COPPA's accepted methods); no guardian name or email is stored. */
export const GUARDIAN_CONSENT_METHODS = ['signed_form', 'payment_card', 'video_call', 'government_id', 'knowledge_based', 'email_plus'] as const;

const guardianConsentSchema = z
  .object({
    granted: z.literal(true),
    method: z.enum(GUARDIAN_CONSENT_METHODS),
    /** An opaque reference to the verification record kept by the operator (not the guardian's identity). */
    reference: z.string().trim().min(1).max(200).optional(),
  })
  .strict();

const signUpExtras = z
  .object({
    /** Used only to decide the age rule and never stored (data minimisation): only the derived facts are. */
    birthDate: z
      .date()
      .refine((d) => d.getTime() < Date.now(), 'must be in the past')
      .optional(),
    guardianConsent: guardianConsentSchema.optional(),
    source: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,49}$/)
      .default('signup'),
  })
  .strict();

export type CreateUserWithConsentInput = Omit<CreateUserInput, 'ageConfirmed'> &
  z.input<typeof signUpExtras> & {
    /** The person confirmed they meet the minimum age, when no birth date is collected. */
    readonly ageConfirmed?: boolean;
  };

/** Whole years between `birthDate` and `now` (UTC calendar). */
export function ageInYears(birthDate: Date, now: Date = new Date()): number {
  const years = now.getUTCFullYear() - birthDate.getUTCFullYear();
  const beforeBirthday =
    now.getUTCMonth() < birthDate.getUTCMonth() || (now.getUTCMonth() === birthDate.getUTCMonth() && now.getUTCDate() < birthDate.getUTCDate());
  return beforeBirthday ? years - 1 : years;
}

/**
 * Consent records and the COPPA age rule. A user under `auth.minimumAge`
 * (config `MINIMUM_AGE`) is created only with verified guardian consent;
 * without a birth date, the person must confirm the minimum age. Every
 * consent given at sign-up is also written to the consent history.
 */
@injectable()
@accessControlled
export class ConsentService {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(ConsentRepository) private readonly consents: ConsentRepository,
    @inject(CONFIG) private readonly config: Config,
  ) {}

  /**
   * Checks the age rule without creating anything.
   * @returns whether the person is a minor (then guardian consent was given)
   * @throws ValidationError naming `guardianConsent` (under the minimum age without it) or `ageConfirmed` (no birth date and no confirmation)
   */
  @declareAccess({ preTenant: 'validation only; touches no store' })
  checkAge(input: { birthDate?: Date; ageConfirmed?: boolean; guardianConsent?: unknown }): { minor: boolean } {
    const minimumAge = this.config.auth.minimumAge;
    if (input.birthDate === undefined) {
      if (input.ageConfirmed !== true) {
        throw new ValidationError([{ path: 'ageConfirmed', message: `must be true (the person is at least ${minimumAge}) when no birthDate is given` }]);
      }
      return { minor: false };
    }
    const minor = ageInYears(input.birthDate) < minimumAge;
    if (minor && input.guardianConsent === undefined) {
      throw new ValidationError([{ path: 'guardianConsent', message: `is required for a user under ${minimumAge} (COPPA): { granted: true, method }` }]);
    }
    return { minor };
  }

  /**
   * Creates a user under the age rule and records the consents given.
   * @throws ValidationError naming the field (`guardianConsent`, `ageConfirmed`, `birthDate`, `email` …); ConflictError `users_email_key`
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async createUser(input: CreateUserWithConsentInput): Promise<{ user: UserRecord; consents: readonly ConsentEvent[] }> {
    const [created] = await this.createUserWith(input, async () => undefined);
    return created;
  }

  /**
   * {@link createUser}, the user and its consents in one transaction, plus `within(tx, user)` in it
   * (`UserRepository.createWith`): sign-up adds the first organization and its audit event, so the
   * account commits whole or not at all.
   * @throws as {@link createUser}; whatever `within` throws (nothing is then written)
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async createUserWith<T>(
    input: CreateUserWithConsentInput,
    within: (tx: PostgresTransaction, user: UserRecord) => Promise<T>,
  ): Promise<[{ user: UserRecord; consents: readonly ConsentEvent[] }, T]> {
    const { birthDate, guardianConsent, source, ageConfirmed, ...rest } = input;
    const extras = parseInput(signUpExtras, { birthDate, guardianConsent, source });
    const { minor } = this.checkAge({ birthDate: extras.birthDate, ageConfirmed, guardianConsent: extras.guardianConsent });
    const events: ConsentInput[] = [
      ...(rest.termsVersion ? [{ kind: 'terms' as const, version: rest.termsVersion, granted: true }] : []),
      ...(rest.privacyVersion ? [{ kind: 'privacy' as const, version: rest.privacyVersion, granted: true }] : []),
      ...(rest.marketingConsentVersion ? [{ kind: 'marketing' as const, version: rest.marketingConsentVersion, granted: true }] : []),
      ...(minor ? [] : [{ kind: 'age_confirmation' as const, granted: true, details: { basis: extras.birthDate ? 'birth_date' : 'self_declared' } }]),
      ...(extras.guardianConsent
        ? [
            {
              kind: 'guardian' as const,
              granted: true,
              details: { method: extras.guardianConsent.method, ...(extras.guardianConsent.reference ? { reference: extras.guardianConsent.reference } : {}) },
            },
          ]
        : []),
    ];
    const [user, [consents, result]] = await this.users.createWith({ ...rest, ageConfirmed: !minor }, async (tx, created) => {
      const recorded: ConsentEvent[] = [];
      for (const e of events) recorded.push(await this.consents.recordWithin(tx, created.id, { ...e, source: extras.source }));
      return [recorded, await within(tx, created)] as const;
    });
    return [{ user, consents }, result];
  }

  /**
   * Records a grant or withdrawal (and updates the current consent on the user).
   * @throws ValidationError naming the field; NotFoundError for an unknown user
   */
  @declareAccess({ preTenant: "sign-up: the account and its first organization do not exist yet; the user's own consent" })
  recordConsent(userId: string, input: ConsentInput): Promise<ConsentEvent> {
    return this.consents.record(userId, input);
  }

  /** The user's consent history, oldest first. */
  @declareAccess({ preTenant: "sign-up: the account and its first organization do not exist yet; the user's own history" })
  history(userId: string): Promise<readonly ConsentEvent[]> {
    return this.consents.history(userId);
  }
}
