import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, TokenError } from '../../errors.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { generateSecretToken, hashToken } from '../../security/secret-token.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { PostgresConnection } from '../postgres-connection.js';
import { AuditRepository, type AuditEventInput } from './audit-repository.js';
import { noRows } from './no-rows.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { withUserScope } from './with-user-scope.js';

/** A pending or finished change of a user's address (no token material). */
export interface EmailChangeRecord {
  readonly id: string;
  readonly userId: string;
  readonly oldEmail: string;
  readonly newEmail: string;
  /** Whether the old address must confirm too. */
  readonly confirmFromOldAddress: boolean;
  readonly newConfirmedAt: Date | null;
  readonly oldConfirmedAt: Date | null;
  readonly expiresAt: Date;
  readonly completedAt: Date | null;
  readonly revertExpiresAt: Date | null;
  readonly revertedAt: Date | null;
  readonly cancelledAt: Date | null;
  readonly createdAt: Date;
}

/** Which of a request's links a token is. */
export type EmailChangeLink = 'new' | 'old' | 'revert';

const row = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    old_email: z.string(),
    new_email: z.string(),
    needs_old: z.boolean(),
    new_confirmed_at: z.date().nullable(),
    old_confirmed_at: z.date().nullable(),
    expires_at: z.date(),
    completed_at: z.date().nullable(),
    revert_expires_at: z.date().nullable(),
    reverted_at: z.date().nullable(),
    cancelled_at: z.date().nullable(),
    created_at: z.date(),
  })
  .transform((r): EmailChangeRecord => ({
    id: r.id,
    userId: r.user_id,
    oldEmail: r.old_email,
    newEmail: r.new_email,
    confirmFromOldAddress: r.needs_old,
    newConfirmedAt: r.new_confirmed_at,
    oldConfirmedAt: r.old_confirmed_at,
    expiresAt: r.expires_at,
    completedAt: r.completed_at,
    revertExpiresAt: r.revert_expires_at,
    revertedAt: r.reverted_at,
    cancelledAt: r.cancelled_at,
    createdAt: r.created_at,
  }));

const COLUMNS = sql.fragment`id, user_id, old_email::text AS old_email, new_email::text AS new_email, old_token_hash IS NOT NULL AS needs_old,
  new_confirmed_at, old_confirmed_at, expires_at, completed_at, revert_expires_at, reverted_at, cancelled_at, created_at`;
const emailInput = z.email().max(320);
const tokenInput = z.string().min(1).max(512);

/** The outcome of one confirmation: still waiting for the other mailbox, or done (with the revert link for the old one). */
export type EmailChangeConfirmation =
  | { readonly status: 'pending'; readonly request: EmailChangeRecord }
  | { readonly status: 'completed'; readonly request: EmailChangeRecord; readonly revertToken: string };

/**
 * Email change requests (sql/0100): tokens are 256 random bits of which only
 * the SHA-256 is stored; each step locks the request row (`FOR UPDATE`), so
 * a link works once and the address changes exactly when the last required
 * confirmation commits — with its audit event, in the same transaction.
 */
@injectable()
@accessControlled
export class EmailChangeRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly auditLog: AuditRepository,
  ) {}

  /**
   * Opens a request, cancelling the user's open one.
   * @returns the request and its plaintext link tokens (send them, never store them); `oldToken` only when the old address must confirm
   * @throws ValidationError naming the field; ConflictError when the user does not exist
   */
  @declareAccess({ preTenant: 'email change flows (EmailChangeService), which check the caller first' })
  async open(
    input: { userId: string; oldEmail: string; newEmail: string; confirmFromOldAddress: boolean; ttlSeconds: number },
    audit: readonly AuditEventInput[] = [],
  ): Promise<{ request: EmailChangeRecord; newToken: string; oldToken: string | undefined }> {
    const d = parseInput(
      z
        .object({
          userId: z.uuid(),
          oldEmail: emailInput,
          newEmail: emailInput,
          confirmFromOldAddress: z.boolean(),
          ttlSeconds: z
            .number()
            .int()
            .min(60)
            .max(30 * 86_400),
        })
        .strict(),
      input,
    );
    const newToken = generateSecretToken();
    const oldToken = d.confirmFromOldAddress ? generateSecretToken() : undefined;
    const request = await withUserScope(this.postgres.appPool, d.userId, async (tx) => {
      await tx.query(sql.type(noRows)`
        UPDATE email_change_requests SET cancelled_at = now()
        WHERE user_id = ${d.userId} AND completed_at IS NULL AND cancelled_at IS NULL`);
      const created = await tx.one(sql.type(row)`
        INSERT INTO email_change_requests (user_id, old_email, new_email, new_token_hash, old_token_hash, expires_at)
        VALUES (${d.userId}, ${d.oldEmail}, ${d.newEmail}, ${sql.binary(hashToken(newToken))},
                ${oldToken === undefined ? null : sql.binary(hashToken(oldToken))}, now() + make_interval(secs => ${d.ttlSeconds}))
        RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, audit);
      return created;
    });
    return { request, newToken, oldToken };
  }

  /**
   * Which request, user and link a presented token is (pre-tenant: the link is clicked before any sign-in).
   * @throws ValidationError naming `token`; TokenError `invalid` for an unknown token
   */
  @declareAccess({ preTenant: 'email change flows (EmailChangeService), which check the caller first' })
  async findByToken(token: string): Promise<{ id: string; userId: string; link: EmailChangeLink }> {
    const t = parseInput(tokenInput, token, 'token');
    const found = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(z.object({ id: z.uuid(), user_id: z.uuid(), link: z.enum(['new', 'old', 'revert']) }))`
        SELECT id, user_id, link FROM platform_auth.email_change_by_token(${sql.binary(hashToken(t))})`),
    );
    if (!found) throw new TokenError('invalid', 'Unknown email-change link');
    return { id: found.id, userId: found.user_id, link: found.link };
  }

  /**
   * Records the confirmation of one mailbox; the last required one changes
   * `users.email` (and marks it verified) in the same transaction. `audit` is
   * given the outcome and written with it.
   * @throws ValidationError; TokenError `consumed` (this mailbox confirmed already, or the request is finished) / `expired` / `invalid`
   * @throws ConflictError `users_email_key` when the new address was taken meanwhile; `email_changed_meanwhile` when the current address is no longer the old one
   */
  @declareAccess({ preTenant: 'email change flows (EmailChangeService), which check the caller first' })
  async confirm(
    userId: string,
    requestId: string,
    link: 'new' | 'old',
    revertWindowSeconds: number,
    audit: (outcome: EmailChangeConfirmation['status'], request: EmailChangeRecord) => readonly AuditEventInput[],
  ): Promise<EmailChangeConfirmation> {
    const d = parseInput(
      z.object({
        userId: z.uuid(),
        requestId: z.uuid(),
        link: z.enum(['new', 'old']),
        revertWindowSeconds: z
          .number()
          .int()
          .min(60)
          .max(365 * 86_400),
      }),
      { userId, requestId, link, revertWindowSeconds },
    );
    return withUserScope(this.postgres.appPool, d.userId, async (tx) => {
      const current = await this.#lock(tx, d.userId, d.requestId);
      if (current.completedAt !== null || current.cancelledAt !== null) throw new TokenError('consumed', 'This email change is already finished');
      if (current.expiresAt.getTime() <= Date.now()) throw new TokenError('expired', 'This email-change link has expired');
      if (d.link === 'old' && !current.confirmFromOldAddress) throw new TokenError('invalid', 'Unknown email-change link');
      if ((d.link === 'new' ? current.newConfirmedAt : current.oldConfirmedAt) !== null) throw new TokenError('consumed', 'This link was already used');
      const confirmed = await tx.one(sql.type(row)`
        UPDATE email_change_requests SET ${d.link === 'new' ? sql.fragment`new_confirmed_at` : sql.fragment`old_confirmed_at`} = now()
        WHERE id = ${d.requestId} RETURNING ${COLUMNS}`);
      const done = confirmed.newConfirmedAt !== null && (!confirmed.confirmFromOldAddress || confirmed.oldConfirmedAt !== null);
      if (!done) {
        await this.auditLog.appendWithin(tx, audit('pending', confirmed));
        return { status: 'pending', request: confirmed };
      }
      const changed = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        UPDATE users SET email = ${confirmed.newEmail}, email_verified_at = now()
        WHERE id = ${d.userId} AND email = ${confirmed.oldEmail} RETURNING id`);
      if (!changed)
        throw new ConflictError('The account address changed since this request was made', { store: 'postgres', constraint: 'email_changed_meanwhile' });
      const revertToken = generateSecretToken();
      const completed = await tx.one(sql.type(row)`
        UPDATE email_change_requests SET completed_at = now(), revert_token_hash = ${sql.binary(hashToken(revertToken))},
               revert_expires_at = now() + make_interval(secs => ${d.revertWindowSeconds})
        WHERE id = ${d.requestId} RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, audit('completed', completed));
      return { status: 'completed', request: completed, revertToken };
    });
  }

  /**
   * Undoes a completed change from the old address, within the revert window: `users.email` goes back (if it is still the new one).
   * `within(tx)` runs in the same transaction (the user's scope): what must commit with the revert, e.g. the
   * revocation of every session (`SessionRevoker.revokeAllForUserWithin`); an error in it rolls the revert back.
   * @throws ValidationError; TokenError `consumed` (reverted already) / `expired` (window over) / `invalid`
   * @throws ConflictError `users_email_key` when the old address was taken meanwhile; `email_changed_meanwhile`
   */
  @declareAccess({ preTenant: 'email change flows (EmailChangeService), which check the caller first' })
  async revert(
    userId: string,
    requestId: string,
    audit: (request: EmailChangeRecord) => readonly AuditEventInput[],
    within?: (tx: DatabaseTransactionConnection) => Promise<void>,
  ): Promise<EmailChangeRecord> {
    const d = parseInput(z.object({ userId: z.uuid(), requestId: z.uuid() }), { userId, requestId });
    return withUserScope(this.postgres.appPool, d.userId, async (tx) => {
      const current = await this.#lock(tx, d.userId, d.requestId);
      if (current.completedAt === null || current.revertExpiresAt === null) throw new TokenError('invalid', 'Unknown email-change link');
      if (current.revertedAt !== null) throw new TokenError('consumed', 'This change was already undone');
      if (current.revertExpiresAt.getTime() <= Date.now()) throw new TokenError('expired', 'The time to undo this change is over');
      const changed = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        UPDATE users SET email = ${current.oldEmail} WHERE id = ${d.userId} AND email = ${current.newEmail} RETURNING id`);
      if (!changed) throw new ConflictError('The account address changed again since', { store: 'postgres', constraint: 'email_changed_meanwhile' });
      const reverted = await tx.one(sql.type(row)`UPDATE email_change_requests SET reverted_at = now() WHERE id = ${d.requestId} RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, audit(reverted));
      await within?.(tx);
      return reverted;
    });
  }

  /**
   * The user's open request (not completed, not cancelled; possibly expired).
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'email change flows (EmailChangeService), which check the caller first' })
  async findOpen(userId: string): Promise<EmailChangeRecord | undefined> {
    const id = parseInput(uuidInput, userId, 'userId');
    const found = await withUserScope(this.postgres.appPool, id, (tx) =>
      tx.maybeOne(sql.type(row)`SELECT ${COLUMNS} FROM email_change_requests WHERE user_id = ${id} AND completed_at IS NULL AND cancelled_at IS NULL`),
    );
    return found ?? undefined;
  }

  /**
   * Cancels the user's open request, with its audit events.
   * @returns false when there was none
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'email change flows (EmailChangeService), which check the caller first' })
  async cancelOpen(userId: string, audit: readonly AuditEventInput[] = []): Promise<boolean> {
    const id = parseInput(uuidInput, userId, 'userId');
    return withUserScope(this.postgres.appPool, id, async (tx) => {
      const cancelled = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        UPDATE email_change_requests SET cancelled_at = now()
        WHERE user_id = ${id} AND completed_at IS NULL AND cancelled_at IS NULL RETURNING id`);
      if (cancelled) await this.auditLog.appendWithin(tx, audit);
      return cancelled !== null;
    });
  }

  async #lock(tx: DatabaseTransactionConnection, userId: string, requestId: string): Promise<EmailChangeRecord> {
    const found = await tx.maybeOne(sql.type(row)`
      SELECT ${COLUMNS} FROM email_change_requests WHERE id = ${requestId} AND user_id = ${userId} FOR UPDATE`);
    if (!found) throw new TokenError('invalid', 'Unknown email-change link');
    return found;
  }
}
