import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { PostgresConnection } from '../postgres-connection.js';
import { noRows } from './no-rows.js';
import { parseInput } from '../../parse-input.js';
import { withUserScope } from './with-user-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** Most hashes ever kept per user (the largest `password_history_count` a policy may set). */
export const MAX_PASSWORD_HISTORY = 24;

const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const keepInput = z.number().int().min(0).max(MAX_PASSWORD_HISTORY);

/**
 * Previous password hashes (bcrypt), so a policy can refuse reusing one of the
 * last N. Compare candidates with `PasswordHasher.verify` against {@link recent}.
 *
 * Pool: the application pool scoped to the user (`withUserScope`).
 */
@injectable()
@accessControlled
export class PasswordHistoryRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Records a password hash and keeps only the newest `keep` (default {@link MAX_PASSWORD_HISTORY}).
   * @throws ValidationError naming `userId`, `passwordHash` (not bcrypt) or `keep`
   * @throws ConflictError when the user does not exist (foreign key)
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async add(userId: string, passwordHash: string, keep: number = MAX_PASSWORD_HISTORY): Promise<void> {
    const input = parseInput(z.object({ userId: z.uuid(), passwordHash: z.string().regex(BCRYPT_HASH, 'must be a bcrypt hash'), keep: keepInput }), {
      userId,
      passwordHash,
      keep,
    });
    await withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      await tx.query(sql.type(noRows)`INSERT INTO password_history (user_id, password_hash) VALUES (${input.userId}, ${input.passwordHash})`);
      await tx.query(sql.type(noRows)`
        DELETE FROM password_history
        WHERE user_id = ${input.userId}
          AND id NOT IN (
            SELECT id FROM password_history WHERE user_id = ${input.userId}
            ORDER BY created_at DESC, id DESC LIMIT ${input.keep}
          )`);
    });
  }

  /**
   * The newest `limit` hashes, newest first.
   * @throws ValidationError naming `userId` / `limit`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async recent(userId: string, limit: number): Promise<readonly string[]> {
    const input = parseInput(z.object({ userId: z.uuid(), limit: keepInput }), { userId, limit });
    if (input.limit === 0) return [];
    return withUserScope(this.postgres.appPool, input.userId, (tx) =>
      tx.anyFirst(sql.type(z.object({ password_hash: z.string() }))`
        SELECT password_hash FROM password_history WHERE user_id = ${input.userId}
        ORDER BY created_at DESC, id DESC LIMIT ${input.limit}`),
    );
  }
}
