import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError, RateLimitedError, ValidationError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { EmailChangeRepository, type EmailChangeRecord } from '../../postgres/repositories/email-change-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { RateLimiter } from '../../redis/repositories/rate-limiter.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { IDENTITY_FLOW_OPTIONS, IDENTITY_NOTIFIER, LOGGER } from '../../tokens.js';
import type { IdentityFlowOptions } from '../../identity-flow-options.js';
import type { EmailChangeMessage, IdentityNotifier } from '../../identity-notifier.js';
import { SessionRevoker, type RevocationWithin } from './session-revoker.js';

const HOUR_MS = 3_600_000;
/** Email-change requests one user may open per hour (each sends mail to a new address). */
const REQUESTS_PER_HOUR_PER_USER = 5;
const tokenInput = z.string().min(1).max(512);

/** What a requester is told: the same whether or not the new address is free (no enumeration). */
export interface EmailChangeRequested {
  readonly expiresAt: Date;
  readonly confirmFromOldAddress: boolean;
}

/** The outcome of clicking a confirmation link. */
export interface EmailChangeConfirmed {
  /** `pending`: the other mailbox has yet to confirm; `completed`: the address changed. */
  readonly status: 'pending' | 'completed';
  readonly newEmail: string;
}

/**
 * Changing a signed-in user's email address with double confirmation:
 * the new mailbox confirms (proof of possession) and — unless
 * `emailChange.confirmFromOldAddress` is off — the current one too (the
 * account owner agrees: OWASP ASVS v4 2.5.x / 3.x "notify and confirm via the
 * old channel"). The change commits with the last confirmation; sessions stay
 * valid. The old address then gets a revert link valid for
 * `revertWindowSeconds`: reverting restores the old address and revokes every
 * session (the change was not wanted, so whoever made it is signed out).
 *
 * Every step is audited in the transaction of its change.
 */
@injectable()
@accessControlled
export class EmailChangeService {
  constructor(
    @inject(EmailChangeRepository) private readonly requests: EmailChangeRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
    @inject(RateLimiter) private readonly limiter: RateLimiter,
    @inject(IDENTITY_NOTIFIER) private readonly notifier: IdentityNotifier,
    @inject(IDENTITY_FLOW_OPTIONS) private readonly options: IdentityFlowOptions,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Opens a change to `newEmail` (cancelling an open one) and mails the
   * confirmation link(s). When `newEmail` belongs to another account nothing
   * is sent to it and the answer is the same (audited as `auth.email_change.address_taken`).
   * @throws TenantAccessError (`own_account`); ValidationError naming `newEmail` (also when it is the current address)
   * @throws RateLimitedError after 5 requests in an hour; NotFoundError when the user is gone
   */
  @declareAccess({ ownAccount: true })
  async requestChange(ctx: TenantContext, newEmail: string): Promise<EmailChangeRequested> {
    const email = parseInput(z.email().max(320), newEmail, 'newEmail');
    const user = await this.users.getById(ctx.userId);
    if (!user) throw new NotFoundError('user', ctx.userId);
    if (user.email.toLowerCase() === email.toLowerCase()) throw new ValidationError([{ path: 'newEmail', message: 'is the current address' }]);
    const limit = await this.limiter.consumeForUser(ctx.userId, 'email_change', { limit: REQUESTS_PER_HOUR_PER_USER, windowMs: HOUR_MS });
    if (!limit.allowed) throw new RateLimitedError('Too many email-change requests', limit.retryAfterMs, limit.limit);
    const { confirmFromOldAddress, requestTtlSeconds } = this.options.emailChange;
    const taken = (await this.users.findCredentialsByEmail(email)) !== undefined;
    const base = { organizationId: ctx.organizationId, actorUserId: ctx.userId };
    if (taken) {
      await this.requests.cancelOpen(ctx.userId, [{ ...base, eventType: 'auth.email_change.address_taken', riskScore: 20, details: {} }]);
      return { expiresAt: new Date(Date.now() + requestTtlSeconds * 1000), confirmFromOldAddress };
    }
    const { request, newToken, oldToken } = await this.requests.open(
      { userId: ctx.userId, oldEmail: user.email, newEmail: email, confirmFromOldAddress, ttlSeconds: requestTtlSeconds },
      [{ ...base, eventType: 'auth.email_change.requested', riskScore: 20, details: { confirmFromOldAddress } }],
    );
    const message = { userId: ctx.userId, newEmail: email, expiresAt: request.expiresAt };
    await this.#send({ ...message, email, token: newToken, kind: 'confirm_new' });
    if (oldToken !== undefined) await this.#send({ ...message, email: user.email, token: oldToken, kind: 'confirm_old' });
    return { expiresAt: request.expiresAt, confirmFromOldAddress };
  }

  /**
   * A confirmation link was clicked (from the new or the old mailbox). The
   * last required one changes the address and mails the revert link to the old one.
   * @throws ValidationError naming `token`; TokenError `invalid` / `consumed` / `expired`
   * @throws ConflictError when the new address was taken, or the account's address changed, meanwhile
   */
  @declareAccess({ preTenant: 'email change: the link is the credential, clicked before any sign-in' })
  async confirm(token: string): Promise<EmailChangeConfirmed> {
    const t = parseInput(tokenInput, token, 'token');
    const found = await this.requests.findByToken(t);
    if (found.link === 'revert') return Promise.reject(new ValidationError([{ path: 'token', message: 'is a revert link; use revert()' }]));
    const outcome = await this.requests.confirm(found.userId, found.id, found.link, this.options.emailChange.revertWindowSeconds, (status, request) => [
      {
        eventType: status === 'completed' ? 'auth.email_change.completed' : 'auth.email_change.confirmed',
        actorUserId: request.userId,
        riskScore: status === 'completed' ? 30 : 0,
        details: { requestId: request.id, mailbox: found.link },
      },
    ]);
    if (outcome.status === 'completed') {
      const r = outcome.request;
      await this.#send({
        userId: r.userId,
        email: r.oldEmail,
        newEmail: r.newEmail,
        token: outcome.revertToken,
        expiresAt: r.revertExpiresAt ?? r.expiresAt,
        kind: 'revert',
      });
    }
    return { status: outcome.status, newEmail: outcome.request.newEmail };
  }

  /**
   * The old address undoes a completed change within the revert window: the
   * old address is restored and every session of the user revoked.
   * @returns the restored address and how many sessions were revoked
   * @throws ValidationError naming `token`; TokenError `invalid` / `consumed` / `expired`; ConflictError
   */
  @declareAccess({ preTenant: 'email change: the link is the credential, clicked before any sign-in' })
  async revert(token: string): Promise<{ readonly restoredEmail: string; readonly revokedSessions: number }> {
    const t = parseInput(tokenInput, token, 'token');
    const found = await this.requests.findByToken(t);
    if (found.link !== 'revert') return Promise.reject(new ValidationError([{ path: 'token', message: 'is not a revert link' }]));
    // A revert answers a takeover: every session ends in the revert's transaction, so no crash leaves the address
    // restored and the taker's sessions live. The Redis half follows the commit.
    let revocation: RevocationWithin | undefined;
    const reverted = await this.requests.revert(
      found.userId,
      found.id,
      (request) => [{ eventType: 'auth.email_change.reverted', actorUserId: request.userId, riskScore: 70, details: { requestId: request.id } }],
      async (tx) => {
        revocation = await this.revoker.revokeAllForUserWithin(tx, found.userId, 'email_change_reverted');
      },
    );
    await revocation?.evict();
    return { restoredEmail: reverted.oldEmail, revokedSessions: revocation?.revoked ?? 0 };
  }

  /**
   * The signed-in user's open request, if any.
   * @throws TenantAccessError (`own_account`)
   */
  @declareAccess({ ownAccount: true })
  async pending(ctx: TenantContext): Promise<EmailChangeRecord | undefined> {
    return this.requests.findOpen(ctx.userId);
  }

  /**
   * Cancels the signed-in user's open request (its links stop working).
   * @returns false when there was none
   * @throws TenantAccessError (`own_account`)
   */
  @declareAccess({ ownAccount: true })
  async cancel(ctx: TenantContext): Promise<boolean> {
    return this.requests.cancelOpen(ctx.userId, [
      { eventType: 'auth.email_change.cancelled', organizationId: ctx.organizationId, actorUserId: ctx.userId, details: {} },
    ]);
  }

  async #send(message: EmailChangeMessage): Promise<void> {
    // A mail failure never undoes the committed step; the user can ask again.
    await this.notifier.emailChange(message).catch((error: unknown) => this.logger.error('email-change message not delivered', { kind: message.kind, error }));
  }
}
