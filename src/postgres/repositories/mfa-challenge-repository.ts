import { sql, type CommonQueryMethods, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { TokenError } from '../../errors.js';
import { generateSecretToken, hashToken } from '../../security/secret-token.js';
import { PostgresConnection } from '../postgres-connection.js';
import { MAINTENANCE_SCOPE, scopedPool } from '../with-scope.js';
import { noRows } from './no-rows.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { withUserScope } from './with-user-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** `sign_in` / `enrollment`: a second factor is due; `password_change`: a required password change (0115), granting nothing else. */
export const MFA_CHALLENGE_PURPOSES = ['sign_in', 'enrollment', 'password_change'] as const;
export type MfaChallengePurpose = (typeof MFA_CHALLENGE_PURPOSES)[number];

/** What the challenge carries to the step after it (0115). */
export interface MfaChallengeFlags {
  /** On a second-factor challenge: a required password change follows it. */
  readonly passwordChangeDue?: boolean;
  /** On a `password_change` ticket: the sign-in passed a second factor. */
  readonly mfaVerified?: boolean;
}

/** Default lifetime: long enough to open an authenticator app, short enough that a leaked token is stale. */
export const MFA_CHALLENGE_TTL_SECONDS = 5 * 60;

export interface MfaChallengeRecord {
  readonly id: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly purpose: MfaChallengePurpose;
  readonly failedAttempts: number;
  readonly passwordChangeDue: boolean;
  readonly mfaVerified: boolean;
  readonly expiresAt: Date;
  readonly consumedAt: Date | null;
  readonly createdAt: Date;
}

const recordRow = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    organization_id: z.uuid(),
    purpose: z.enum(MFA_CHALLENGE_PURPOSES),
    failed_attempts: z.number(),
    password_change_due: z.boolean(),
    mfa_verified: z.boolean(),
    expires_at: z.date(),
    consumed_at: z.date().nullable(),
    created_at: z.date(),
  })
  .transform((r): MfaChallengeRecord => ({
    id: r.id,
    userId: r.user_id,
    organizationId: r.organization_id,
    purpose: r.purpose,
    failedAttempts: r.failed_attempts,
    passwordChangeDue: r.password_change_due,
    mfaVerified: r.mfa_verified,
    expiresAt: r.expires_at,
    consumedAt: r.consumed_at,
    createdAt: r.created_at,
  }));

const COLUMNS = sql.fragment`id, user_id, organization_id, purpose, failed_attempts, password_change_due, mfa_verified, expires_at, consumed_at, created_at`;
const tokenInput = z.string().min(1).max(512);
const createInput = z
  .object({
    userId: z.uuid(),
    organizationId: z.uuid(),
    purpose: z.enum(MFA_CHALLENGE_PURPOSES),
    ttlSeconds: z.number().int().min(30).max(3600),
    flags: z.object({ passwordChangeDue: z.boolean().optional(), mfaVerified: z.boolean().optional() }).strict(),
  })
  .strict();

/**
 * MFA challenges (0050): what a password sign-in returns instead of a session
 * when a second factor is due. Only the SHA-256 of the token is stored.
 *
 * Pools: `create` runs on the application pool scoped to the user
 * (`withUserScope`); `findActive`, `recordFailedAttempt` and `consume` are
 * keyed by the token (or the id it resolved to) before any session exists,
 * so they run on the owner pool, where the token hash is the credential
 * (docs/schema.md, "Pre-tenant auth paths").
 */
@injectable()
@accessControlled
export class MfaChallengeRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Creates a challenge and deletes the user's other open ones, so only the
   * latest sign-in's challenge works (parallel challenges would multiply the
   * attempts an attacker with the password gets).
   * @returns the plaintext token (hand it to the client, never store or log it) and its row
   * @throws ValidationError naming `userId` / `organizationId` / `purpose` / `ttlSeconds` / `flags.*`
   * @throws ConflictError when the user or organization does not exist (foreign key)
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async create(
    userId: string,
    organizationId: string,
    purpose: MfaChallengePurpose,
    ttlSeconds: number = MFA_CHALLENGE_TTL_SECONDS,
    flags: MfaChallengeFlags = {},
  ): Promise<{ token: string; challenge: MfaChallengeRecord }> {
    const input = parseInput(createInput, { userId, organizationId, purpose, ttlSeconds, flags });
    const token = generateSecretToken();
    const challenge = await withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      await tx.query(sql.type(noRows)`DELETE FROM mfa_challenges WHERE user_id = ${input.userId} AND consumed_at IS NULL`);
      return tx.one(sql.type(recordRow)`
        INSERT INTO mfa_challenges (user_id, organization_id, purpose, token_hash, expires_at, password_change_due, mfa_verified)
        VALUES (${input.userId}, ${input.organizationId}, ${input.purpose}, ${sql.binary(hashToken(token))},
                now() + make_interval(secs => ${input.ttlSeconds}), ${input.flags.passwordChangeDue === true}, ${input.flags.mfaVerified === true})
        RETURNING ${COLUMNS}`);
    });
    return { token, challenge };
  }

  /**
   * The open challenge for `token` and `purpose` (not consumed, not expired).
   * @throws ValidationError naming `token` / `purpose`
   * @throws TokenError `invalid` (unknown, or another purpose), `consumed`, `expired`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async findActive(token: string, purpose: MfaChallengePurpose): Promise<MfaChallengeRecord> {
    const input = parseInput(z.object({ token: tokenInput, purpose: z.enum(MFA_CHALLENGE_PURPOSES) }), { token, purpose });
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(recordRow)`
        SELECT ${COLUMNS} FROM platform_auth.mfa_challenge(${input.purpose}, ${sql.binary(hashToken(input.token))})`),
    );
    if (!row) throw new TokenError('invalid', 'Unknown MFA challenge');
    if (row.consumedAt !== null) throw new TokenError('consumed', 'MFA challenge was already used');
    if (row.expiresAt.getTime() <= Date.now()) throw new TokenError('expired', 'MFA challenge has expired');
    return row;
  }

  /**
   * Counts a wrong code against the challenge in one UPDATE (exact under
   * concurrency); the attempt that reaches `maxAttempts` also consumes it.
   * @returns the new count, or `undefined` when the challenge was already closed
   * @throws ValidationError naming `id` / `maxAttempts`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async recordFailedAttempt(id: string, maxAttempts: number): Promise<{ failedAttempts: number; closed: boolean } | undefined> {
    const input = parseInput(z.object({ id: z.uuid(), maxAttempts: z.number().int().min(1).max(100) }), { id, maxAttempts });
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(z.object({ failed_attempts: z.number(), closed: z.boolean() }))`
        SELECT failed_attempts, closed FROM platform_auth.fail_mfa_challenge(${input.id}, ${input.maxAttempts})`),
    );
    return row ? { failedAttempts: row.failed_attempts, closed: row.closed } : undefined;
  }

  /**
   * Uses the challenge: ONE atomic `UPDATE … WHERE consumed_at IS NULL AND
   * expires_at > now()`, so of two concurrent completions exactly one wins.
   * @returns true for the winner
   * @throws ValidationError naming `id`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async consume(id: string): Promise<boolean> {
    const challengeId = parseInput(uuidInput, id, 'id');
    return withPostgresErrors(() => this.#consume(this.postgres.appPool, challengeId));
  }

  /**
   * {@link consume} in the caller's transaction `tx` (any scope: the consuming function checks the id), so the
   * challenge is spent exactly when the change it authorizes commits (`PasswordChangeTickets.consumeWithin`).
   * @returns true for the winner
   * @throws ValidationError naming `id`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async consumeWithin(tx: DatabaseTransactionConnection, id: string): Promise<boolean> {
    return this.#consume(tx, parseInput(uuidInput, id, 'id'));
  }

  async #consume(connection: CommonQueryMethods, challengeId: string): Promise<boolean> {
    const row = await connection.maybeOne(sql.type(z.object({ id: z.uuid() }))`
      SELECT id FROM platform_auth.consume_mfa_challenge(${challengeId}) AS c(id)`);
    return row !== null;
  }

  /**
   * Deletes challenges that expired more than `days` ago (maintenance).
   * @returns how many rows were deleted
   * @throws ValidationError naming `days`
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async deleteExpiredOlderThan(days = 1): Promise<number> {
    const d = parseInput(z.number().int().min(0).max(3650), days, 'days');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE).oneFirst(sql.type(z.object({ count: z.number() }))`
        WITH deleted AS (DELETE FROM mfa_challenges WHERE expires_at < now() - make_interval(days => ${d}) RETURNING 1)
        SELECT count(*)::int AS count FROM deleted`),
    );
  }
}
