import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { parseInput } from '../../parse-input.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { PostgresConnection } from '../postgres-connection.js';
import { MAINTENANCE_SCOPE, scopedPool } from '../with-scope.js';
import { AuditRepository, type AuditEventInput } from './audit-repository.js';
import { noRows } from './no-rows.js';
import { withUserScope } from './with-user-scope.js';

/** Digits of an emailed sign-in code. */
export const SIGN_IN_CODE_DIGITS = 6;

/** How a code check ended: `ok` (consumed now), `invalid` (wrong, or none open), `closed` (this wrong guess was the last allowed). */
export type SignInCodeCheck = 'ok' | 'invalid' | 'closed';

function codeHash(salt: Buffer, code: string): Buffer {
  return createHash('sha256').update(salt).update(code, 'utf8').digest();
}

const openRow = z.object({ id: z.uuid(), code_salt: z.instanceof(Buffer), code_hash: z.instanceof(Buffer), failed_attempts: z.number() });

/**
 * One-time 6-digit sign-in codes sent by email (sql/0100). Only a salted
 * SHA-256 is stored; a code has 10⁶ values, so what protects it is its short
 * life, one open code per user, and the attempt limit — each check locks the
 * user's open code (`FOR UPDATE`) so concurrent guesses are counted exactly.
 */
@injectable()
@accessControlled
export class EmailSignInCodeRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly auditLog: AuditRepository,
  ) {}

  /**
   * Creates a code for the user, deleting their open ones (only the latest email's code works).
   * @returns the plaintext code (send it, never store it) and its expiry
   * @throws ValidationError naming `userId` / `ttlSeconds`; ConflictError when the user does not exist
   */
  @declareAccess({ preTenant: 'passwordless flows (PasswordlessSignIn), which check the caller first' })
  async create(userId: string, ttlSeconds: number): Promise<{ code: string; expiresAt: Date }> {
    const input = parseInput(z.object({ userId: z.uuid(), ttlSeconds: z.number().int().min(1).max(3600) }), { userId, ttlSeconds });
    const code = String(randomInt(0, 10 ** SIGN_IN_CODE_DIGITS)).padStart(SIGN_IN_CODE_DIGITS, '0');
    const salt = randomBytes(16);
    const expiresAt = new Date(Date.now() + input.ttlSeconds * 1000);
    await withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      await tx.query(sql.type(noRows)`DELETE FROM email_sign_in_codes WHERE user_id = ${input.userId} AND consumed_at IS NULL`);
      await tx.query(sql.type(noRows)`
        INSERT INTO email_sign_in_codes (user_id, code_salt, code_hash, expires_at)
        VALUES (${input.userId}, ${sql.binary(salt)}, ${sql.binary(codeHash(salt, code))}, ${sql.timestamp(expiresAt)})`);
    });
    return { code, expiresAt };
  }

  /**
   * Checks a code against the user's open one: a match consumes it; a miss
   * counts, and the miss that reaches `maxAttempts` closes the code. `onFailure`
   * events are written in the same transaction as the count.
   * @throws ValidationError naming `userId` / `code` / `maxAttempts`
   */
  @declareAccess({ preTenant: 'passwordless flows (PasswordlessSignIn), which check the caller first' })
  async check(userId: string, code: string, maxAttempts: number, onFailure: readonly AuditEventInput[] = []): Promise<SignInCodeCheck> {
    const input = parseInput(
      z.object({ userId: z.uuid(), code: z.string().regex(/^\d{6}$/, 'must be the 6-digit code'), maxAttempts: z.number().int().min(1).max(100) }),
      { userId, code: code.replaceAll(/\s/g, ''), maxAttempts },
    );
    return withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      const open = await tx.maybeOne(sql.type(openRow)`
        SELECT id, code_salt, code_hash, failed_attempts FROM email_sign_in_codes
        WHERE user_id = ${input.userId} AND consumed_at IS NULL AND expires_at > now()
        ORDER BY created_at DESC LIMIT 1 FOR UPDATE`);
      if (open && timingSafeEqual(open.code_hash, codeHash(open.code_salt, input.code))) {
        await tx.query(sql.type(noRows)`UPDATE email_sign_in_codes SET consumed_at = now() WHERE id = ${open.id}`);
        return 'ok';
      }
      await this.auditLog.appendWithin(tx, onFailure);
      if (!open) return 'invalid';
      const closed = open.failed_attempts + 1 >= input.maxAttempts;
      await tx.query(sql.type(noRows)`
        UPDATE email_sign_in_codes SET failed_attempts = failed_attempts + 1, consumed_at = ${closed ? sql.fragment`now()` : null}
        WHERE id = ${open.id}`);
      return closed ? 'closed' : 'invalid';
    });
  }

  /**
   * Deletes codes that expired more than `days` ago.
   * @returns how many rows were deleted
   * @throws ValidationError naming `days`
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async deleteExpiredOlderThan(days = 1): Promise<number> {
    const d = parseInput(z.number().int().min(0).max(3650), days, 'days');
    return scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE).oneFirst(sql.type(z.object({ count: z.number() }))`
      WITH deleted AS (DELETE FROM email_sign_in_codes WHERE expires_at < now() - make_interval(days => ${d}) RETURNING 1)
      SELECT count(*)::int AS count FROM deleted`);
  }
}
