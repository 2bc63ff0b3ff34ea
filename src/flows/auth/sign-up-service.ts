import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { AuthNotifier } from '../../auth-notifier.js';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import { ConflictError, RateLimitedError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { RateLimiter } from '../../redis/repositories/rate-limiter.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { AUTH_FLOW_OPTIONS, AUTH_NOTIFIER, LOGGER } from '../../tokens.js';
import { recordAuditEvent } from '../record-audit-event.js';
import { AccountCreation, type CreatedAccount } from './account-creation.js';
import { clientContextSchema, type ClientContext } from './client-context.js';
import { EmailVerification } from './email-verification.js';
import { EMAIL_REQUEST_ACCEPTED, type EmailRequestAccepted } from './email-request-accepted.js';

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
const HOUR_MS = 3_600_000;
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

/**
 * Sign-up: a new organization with its first owner (written by `AccountCreation`).
 *
 * `signUp` is the self-service door and does not enumerate (OWASP ASVS v4
 * 2.2.1 / 3.x, "the same answer for a new and an existing address"); `createAccount`
 * is for trusted callers (seeding, admin tools, invitations) and says what happened.
 */
@injectable()
@accessControlled
export class SignUpService {
  constructor(
    @inject(AccountCreation) private readonly creation: AccountCreation,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(EmailVerification) private readonly verification: EmailVerification,
    @inject(AUTH_NOTIFIER) private readonly notifier: AuthNotifier,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(RateLimiter) private readonly limiter: RateLimiter,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
  ) {}

  /**
   * Self-service sign-up. Answers `{ accepted: true }` whether the address is
   * new or already has an account (in any letter case): a new account is
   * created `pending_verification` and sent a verification link
   * (`AuthNotifier.emailVerification`); for an existing one nothing is created
   * or changed, and its owner is told through `AuthNotifier.signUpWithExistingEmail`
   * — unless it is `pending_verification` and was never verified: then it is
   * sent a fresh verification link through the same path as a new account's
   * (as Supabase GoTrue's signup does for an unconfirmed user), so a link lost
   * to a crash or a bounce after the account committed is one retry away.
   * A notifier or link failure is logged and does not change the answer.
   *
   * With `context.ip`, sign-ups from one client IP are limited to
   * `emailRequestsPerHourPerIp` an hour (each sends an email), counted before
   * anything is hashed or written (OWASP ASVS v4 2.2.1, anti-automation).
   * @throws ValidationError naming the field (`email`, `password` with the broken rules as codes, `ageConfirmed` …, `context.*`) — for both cases alike
   * @throws RateLimitedError when the client IP signed up too often (same for new and existing addresses)
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async signUp(input: SignUpInput, context: ClientContext = {}): Promise<EmailRequestAccepted> {
    const d = parseInput(signUpInput, input);
    const client = parseInput(clientContextSchema, context, 'context');
    if (client.ip !== undefined) {
      const result = await this.limiter.consumeForIp(client.ip, 'sign_up', { limit: this.options.emailRequestsPerHourPerIp, windowMs: HOUR_MS });
      if (!result.allowed) throw new RateLimitedError('Too many requests', result.retryAfterMs, result.limit);
    }
    let created: CreatedAccount;
    try {
      created = await this.creation.create({ ...d, emailVerified: false, mustChangePassword: false });
    } catch (error) {
      if (!(error instanceof ConflictError && error.constraint === 'users_email_key')) throw error;
      await this.#answerExistingAddress(d.email);
      return EMAIL_REQUEST_ACCEPTED;
    }
    await this.#sendVerificationLink(created.user.id);
    return EMAIL_REQUEST_ACCEPTED;
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
    return this.creation.create(parseInput(createAccountInput, input));
  }

  /**
   * The address has an account: a never-verified one gets a fresh verification link (the password and all else of
   * it stay as they are: whoever signs up again has not proven the address), any other's owner hears of the
   * attempt; the caller hears nothing different.
   */
  async #answerExistingAddress(email: string): Promise<void> {
    const existing = await this.users.findCredentialsByEmail(email);
    if (!existing || existing.user.status === 'deleted') return;
    const { user } = existing;
    const unverified = user.status === 'pending_verification' && user.emailVerifiedAt === null;
    if (unverified) {
      await this.#sendVerificationLink(user.id);
    } else {
      await this.notifier
        .signUpWithExistingEmail({ userId: user.id, email: user.email })
        .catch((error: unknown) => this.logger.error('sign-up-with-existing-email notice not delivered', { userId: user.id, error }));
    }
    await recordAuditEvent(this.audit, this.logger, {
      eventType: 'auth.signup.existing_email',
      organizationId: null,
      actorUserId: user.id,
      riskScore: 20,
      details: { method: 'password', ...(unverified ? { verificationResent: true } : {}) },
    });
  }

  /** The verification link of a new or a never-verified account; a failure is logged (a repeated sign-up sends another). */
  async #sendVerificationLink(userId: string): Promise<void> {
    await this.verification
      .requestEmailVerification(userId)
      .catch((error: unknown) => this.logger.error('sign-up verification link not delivered', { userId, error }));
  }
}
