import { sql, type CommonQueryMethods, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { TokenError } from '../../errors.js';
import { generateSecretToken, hashToken } from '../../security/secret-token.js';
import { PostgresConnection } from '../postgres-connection.js';
import { enterScope, MAINTENANCE_SCOPE, scopedPool, withScope } from '../with-scope.js';
import { parseInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { withUserScope } from './with-user-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export const VERIFICATION_PURPOSES = ['email_verification', 'password_reset', 'magic_link'] as const;
export type VerificationPurpose = (typeof VERIFICATION_PURPOSES)[number];

/** Lifetimes: long enough to reach the inbox, short where the token grants a login or a password. */
export const VERIFICATION_TTL_SECONDS: Readonly<Record<VerificationPurpose, number>> = {
  email_verification: 24 * 3600,
  password_reset: 3600,
  magic_link: 15 * 60,
};

export interface VerificationTokenRecord {
  readonly id: string;
  readonly userId: string;
  readonly purpose: VerificationPurpose;
  readonly expiresAt: Date;
  readonly consumedAt: Date | null;
  readonly createdAt: Date;
}

const recordRow = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    purpose: z.enum(VERIFICATION_PURPOSES),
    expires_at: z.date(),
    consumed_at: z.date().nullable(),
    created_at: z.date(),
  })
  .transform((r): VerificationTokenRecord => ({
    id: r.id,
    userId: r.user_id,
    purpose: r.purpose,
    expiresAt: r.expires_at,
    consumedAt: r.consumed_at,
    createdAt: r.created_at,
  }));

const COLUMNS = sql.fragment`id, user_id, purpose, expires_at, consumed_at, created_at`;
const purposeInput = z.enum(VERIFICATION_PURPOSES);
const createInput = z.object({ userId: z.uuid(), purpose: purposeInput }).strict();
const consumeInput = z.object({ purpose: purposeInput, token: z.string().min(1).max(512) }).strict();

/** Why a token cannot be used: unknown, spent, or (otherwise) past its time. */
function whyNotLive(row: VerificationTokenRecord | null): TokenError {
  if (!row) return new TokenError('invalid', 'Unknown verification token');
  if (row.consumedAt !== null) return new TokenError('consumed', 'Verification token was already used');
  return new TokenError('expired', 'Verification token has expired');
}

/**
 * One-time tokens for email verification (24 h), password reset (1 h) and
 * magic links (15 min). Only the SHA-256 of a token is stored.
 *
 * Pools: `create` runs on the application pool scoped to the user
 * (`withUserScope`); `consume` is the link being clicked — nothing but the
 * token is known — so it goes through the narrow function
 * `platform_auth.consume_verification_token` (sql/0070), where the token hash
 * is the credential (docs/schema.md, "Pre-tenant auth paths"). `consumeWith` /
 * `consumeWithin` spend the token in the transaction of its effect.
 */
@injectable()
@accessControlled
export class VerificationTokenRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Creates a token for `purpose`, replacing the user's unconsumed token of the
   * same purpose, so only the latest email's link works. One statement on the
   * unique partial index of sql/0117 (`INSERT … ON CONFLICT … DO UPDATE`): of
   * concurrent calls for one user and purpose, each replaces the one before,
   * and exactly one live token remains.
   * @returns the plaintext token (send it, never store it) and its row
   * @throws ValidationError naming `userId` / `purpose`
   * @throws ConflictError when the user does not exist (foreign key)
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async create(userId: string, purpose: VerificationPurpose): Promise<{ token: string; verificationToken: VerificationTokenRecord }> {
    const input = parseInput(createInput, { userId, purpose });
    const token = generateSecretToken();
    const ttl = VERIFICATION_TTL_SECONDS[input.purpose];
    // The replaced row takes a new id and creation time: it is a new token, the old link is gone.
    const verificationToken = await withUserScope(this.postgres.appPool, input.userId, (tx) =>
      tx.one(sql.type(recordRow)`
        INSERT INTO verification_tokens (user_id, purpose, token_hash, expires_at)
        VALUES (${input.userId}, ${input.purpose}, ${sql.binary(hashToken(token))}, now() + make_interval(secs => ${ttl}))
        ON CONFLICT (user_id, purpose) WHERE consumed_at IS NULL
        DO UPDATE SET id = EXCLUDED.id, token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at
        RETURNING ${COLUMNS}`),
    );
    return { token, verificationToken };
  }

  /**
   * Consumes a token: ONE atomic `UPDATE … WHERE consumed_at IS NULL AND
   * expires_at > now()`, so of concurrent consumers exactly one wins.
   * For a token whose effect is in PostgreSQL, prefer {@link consumeWith} or
   * {@link consumeWithin}: a token spent here and an effect written after it
   * can be split by a crash (the link spent, its effect never made).
   * @throws ValidationError naming `purpose` / `token`
   * @throws TokenError `consumed`, `expired` or `invalid` (unknown, or issued for another purpose)
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async consume(purpose: VerificationPurpose, token: string): Promise<VerificationTokenRecord> {
    const input = parseInput(consumeInput, { purpose, token });
    return withPostgresErrors(() => this.#consume(this.postgres.appPool, input.purpose, input.token));
  }

  /**
   * {@link consume}, plus `within(tx, consumed)` in the same transaction, which
   * is then in the token's user's own scope (`UserRepository.setStatusWithin`,
   * `AuditRepository.appendWithin`): the token is spent exactly when its effect
   * commits — an error in `within`, or a crash, leaves the token live for a retry.
   * @throws ValidationError naming `purpose` / `token`; TokenError `consumed` / `expired` / `invalid`; whatever `within` throws
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async consumeWith<T>(
    purpose: VerificationPurpose,
    token: string,
    within: (tx: DatabaseTransactionConnection, consumed: VerificationTokenRecord) => Promise<T>,
  ): Promise<[VerificationTokenRecord, T]> {
    const input = parseInput(consumeInput, { purpose, token });
    // No scope to start with: only the token is known, and the consuming function checks it (sql/0070).
    return withScope(this.postgres.appPool, {}, async (tx) => {
      const consumed = await this.#consume(tx, input.purpose, input.token);
      await enterScope(tx, { userId: consumed.userId });
      return [consumed, await within(tx, consumed)];
    });
  }

  /**
   * {@link consume} in the caller's transaction `tx` (any scope: the consuming
   * function checks the token, not the scope), for an effect whose transaction
   * the caller opens — e.g. `AccountRepository.changePassword`'s `within`.
   * @throws ValidationError naming `purpose` / `token`; TokenError `consumed` / `expired` / `invalid`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async consumeWithin(tx: DatabaseTransactionConnection, purpose: VerificationPurpose, token: string): Promise<VerificationTokenRecord> {
    const input = parseInput(consumeInput, { purpose, token });
    return this.#consume(tx, input.purpose, input.token);
  }

  /**
   * The live token (unconsumed, unexpired) without spending it: for a flow that
   * must do slow work (bcrypt) before the transaction that consumes it.
   * @throws ValidationError naming `purpose` / `token`
   * @throws TokenError `consumed`, `expired` or `invalid`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async findActive(purpose: VerificationPurpose, token: string): Promise<VerificationTokenRecord> {
    const input = parseInput(consumeInput, { purpose, token });
    const existing = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(recordRow)`
        SELECT ${COLUMNS} FROM platform_auth.verification_token(${input.purpose}, ${sql.binary(hashToken(input.token))})`),
    );
    // The consume in the effect's transaction checks the time again, on the database's clock.
    if (existing && existing.consumedAt === null && existing.expiresAt.getTime() > Date.now()) return existing;
    throw whyNotLive(existing);
  }

  async #consume(connection: CommonQueryMethods, purpose: VerificationPurpose, token: string): Promise<VerificationTokenRecord> {
    const hash = sql.binary(hashToken(token));
    const consumed = await connection.maybeOne(sql.type(recordRow)`
      SELECT ${COLUMNS} FROM platform_auth.consume_verification_token(${purpose}, ${hash})`);
    if (consumed) return consumed;
    // Only the failure path reads again, to say why; the token is 256 random bits, so this reveals nothing guessable.
    const existing = await connection.maybeOne(sql.type(recordRow)`
      SELECT ${COLUMNS} FROM platform_auth.verification_token(${purpose}, ${hash})`);
    throw whyNotLive(existing);
  }

  /**
   * Deletes tokens that expired more than `days` ago.
   * @returns how many rows were deleted
   * @throws ValidationError naming `days`
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async deleteExpiredOlderThan(days = 7): Promise<number> {
    const d = parseInput(z.number().int().min(0).max(3650), days, 'days');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE).oneFirst(sql.type(z.object({ count: z.number() }))`
        WITH deleted AS (
          DELETE FROM verification_tokens WHERE expires_at < now() - make_interval(days => ${d}) RETURNING 1
        )
        SELECT count(*)::int AS count FROM deleted`),
    );
  }
}
