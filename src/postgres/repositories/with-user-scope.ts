import type { DatabasePool, DatabaseTransactionConnection } from 'slonik';
import { withScope } from '../with-scope.js';

/**
 * Like `withTenant`, for a person's own rows (identities, user_mfa,
 * mfa_recovery_codes, password_history, verification_tokens, consent, and —
 * since sql/0070 — their users row, sessions and refresh tokens in every
 * organization), whose user-scope policies read only `platform.user_id`: runs
 * `fn` in a transaction on `pool` (the application pool) with the user set
 * transaction-locally and no organization. These rows belong to a person
 * across organizations, and are used in flows where no organization is chosen
 * yet (sign-in, MFA challenge, OAuth callback, password change), so a full
 * TenantContext cannot be demanded; row-level security still confines every
 * statement to that one user.
 *
 * `userId` must already be validated (a uuid) by the caller.
 * @throws PlatformError subclasses from mapPostgresError (the transaction is rolled back)
 */
export async function withUserScope<T>(pool: DatabasePool, userId: string, fn: (connection: DatabaseTransactionConnection) => Promise<T>): Promise<T> {
  return withScope(pool, { userId }, fn);
}
