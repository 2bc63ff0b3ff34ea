import { sql, type DatabasePool, type DatabaseTransactionConnection } from 'slonik';
import { z } from 'zod';
import { mapPostgresError } from '../map-postgres-error.js';

const settingsRow = z.object({ user_id: z.string() });

/**
 * Like `withTenant`, for the user-owned tables (identities, user_mfa,
 * mfa_recovery_codes, password_history, verification_tokens), whose policies
 * read only `platform.user_id`: runs `fn` in a transaction on `pool` (the
 * application pool) with the user set transaction-locally and no
 * organization. These rows belong to a person across organizations, and are
 * used in flows where no organization is chosen yet (MFA challenge, OAuth
 * callback, password change), so a full TenantContext cannot be demanded;
 * row-level security still confines every statement to that one user.
 *
 * `userId` must already be validated (a uuid) by the caller.
 * @throws PlatformError subclasses from mapPostgresError (the transaction is rolled back)
 */
export async function withUserScope<T>(
  pool: DatabasePool,
  userId: string,
  fn: (connection: DatabaseTransactionConnection) => Promise<T>,
): Promise<T> {
  try {
    return await pool.transaction(async (connection) => {
      await connection.one(sql.type(settingsRow)`SELECT set_config('platform.user_id', ${userId}, true) AS user_id`);
      return fn(connection);
    });
  } catch (error) {
    throw mapPostgresError(error);
  }
}
