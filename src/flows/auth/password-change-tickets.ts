import type { PostgresTransaction } from '../../postgres/postgres-transaction.js';
import { inject, injectable } from 'tsyringe';
import { TokenError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { MfaChallengeRepository, type MfaChallengeRecord } from '../../postgres/repositories/mfa-challenge-repository.js';
import type { SecuritySettings } from '../../postgres/repositories/security-settings-repository.js';
import type { UserRecord } from '../../postgres/repositories/user-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { LOGGER } from '../../tokens.js';
import { clientAuditFields, type ParsedClientContext } from './client-context.js';

/**
 * Lifetime of a password-change ticket: long enough to type a new password twice, short enough that a leaked
 * ticket is stale (the MFA challenge's five minutes; OWASP ASVS v4 2.5.x asks for short-lived, single-use
 * recovery and change secrets).
 */
export const PASSWORD_CHANGE_TICKET_TTL_SECONDS = 5 * 60;

/** Why the password must be changed: the account's must-change flag, or the organization's `passwordMaxAgeDays`. */
export type PasswordChangeReason = 'must_change' | 'max_age';

/**
 * The password (and the second factor, when one was due) was right, but the password must be changed before a
 * session exists: NO session, NO refresh token. Send `passwordChangeTicket` with the new password to
 * `PasswordChange.completeRequiredChange` before `expiresAt` (5 minutes); the ticket is single-use, shown once
 * and grants nothing else (`SessionValidator` does not know it).
 */
export interface PasswordChangeRequiredResult {
  readonly status: 'password_change_required';
  readonly passwordChangeTicket: string;
  readonly expiresAt: Date;
  readonly reason: PasswordChangeReason;
}

/**
 * Password-change tickets (0115): the restricted first step of a sign-in whose
 * password must be changed. A ticket is a `password_change` row of
 * `mfa_challenges` — a random 256-bit token of which only the SHA-256 is
 * stored, single use by one UPDATE, 5 minutes — and carries whether the
 * sign-in passed a second factor (so the session it ends in says so).
 */
@injectable()
@accessControlled
export class PasswordChangeTickets {
  constructor(
    @inject(MfaChallengeRepository) private readonly challenges: MfaChallengeRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Whether the user must change the password before signing in: the must-change flag (an administrator's, or
   * a seeded account's: OWASP ASVS v4 2.1.x / NIST SP 800-63B 5.1.1.2 — a change on evidence or at first use), or
   * the organization's opt-in `passwordMaxAgeDays` (off by default: NIST SP 800-63B 5.1.1.2 says verifiers SHOULD
   * NOT require periodic changes).
   */
  @declareAccess({ preTenant: 'authentication: runs after the password was verified, before any caller is known' })
  async due(user: UserRecord, settings: Pick<SecuritySettings, 'passwordMaxAgeDays'>): Promise<PasswordChangeReason | undefined> {
    if (user.mustChangePassword) return 'must_change';
    if (settings.passwordMaxAgeDays === null) return undefined;
    const changedAt = await this.accounts.passwordChangedAt(user.id);
    return changedAt !== null && changedAt.getTime() + settings.passwordMaxAgeDays * 86_400_000 <= Date.now() ? 'max_age' : undefined;
  }

  /**
   * Creates the ticket (the user's other open challenges are deleted) and audits `auth.login.password_change_required`.
   * @throws ConflictError when the user or organization no longer exists
   */
  @declareAccess({ preTenant: 'authentication: runs after the password was verified, before any caller is known' })
  async issue(
    user: UserRecord,
    organizationId: string,
    client: ParsedClientContext,
    options: { readonly reason: PasswordChangeReason; readonly mfaVerified: boolean },
  ): Promise<PasswordChangeRequiredResult> {
    const { token, challenge } = await this.challenges.create(user.id, organizationId, 'password_change', PASSWORD_CHANGE_TICKET_TTL_SECONDS, {
      mfaVerified: options.mfaVerified,
    });
    const event = {
      eventType: 'auth.login.password_change_required',
      organizationId,
      actorUserId: user.id,
      ...clientAuditFields(client),
      details: { ticketId: challenge.id, reason: options.reason, mfa: options.mfaVerified },
    };
    // Like `auth.login.mfa_challenged`: no state changed but a ticket, so the batching writer; a lost event is logged loudly.
    await this.audit.record(event).catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: event.eventType, error }));
    return { status: 'password_change_required', passwordChangeTicket: token, expiresAt: challenge.expiresAt, reason: options.reason };
  }

  /**
   * The open ticket for `token`; another purpose's token (an MFA challenge) is unknown here.
   * @throws ValidationError naming `token`; TokenError `invalid` / `consumed` / `expired`
   */
  @declareAccess({ preTenant: 'authentication: the caller holds a password-change ticket' })
  async open(token: string): Promise<MfaChallengeRecord> {
    return this.challenges.findActive(token, 'password_change');
  }

  /**
   * Spends the ticket in the caller's transaction `tx` — the password change's (`AccountRepository.changePassword`'s
   * `within`), so the ticket is spent exactly when the new password commits: of two completions racing, one wins.
   * @throws TokenError `consumed` for the loser (or an expired ticket), which rolls `tx` back
   */
  @declareAccess({ preTenant: 'authentication: the caller holds a password-change ticket' })
  async consumeWithin(tx: PostgresTransaction, ticket: MfaChallengeRecord): Promise<void> {
    if (!(await this.challenges.consumeWithin(tx, ticket.id))) throw new TokenError('consumed', 'Password-change ticket was already used');
  }
}
