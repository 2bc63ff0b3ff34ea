import { sql, type CommonQueryMethods, type DatabasePool, type DatabaseTransactionConnection } from 'slonik';
import { z } from 'zod';
import { mapPostgresError } from './map-postgres-error.js';

/**
 * The transaction-local settings the row-level-security policies read
 * (sql/0001, sql/0070). Each is set only when given:
 * - `userId` alone — "user scope": one person's own rows across organizations;
 * - `organizationId` (with or without `userId`) — that tenant's rows;
 * - `adminActor` — "admin scope": the cross-tenant work of an AdminScope
 *   (erasure, export, retention, re-encryption). Names the actor, for `pg_stat_activity` and logs.
 */
export interface PostgresScope {
  readonly userId?: string;
  readonly organizationId?: string;
  readonly adminActor?: string;
}

const settingsRow = z.object({ organization_id: z.string(), user_id: z.string(), admin_actor: z.string() });

/**
 * Runs `fn` in a transaction on `pool` (the application pool) with the
 * settings of `scope` set transaction-locally, so they end with the
 * transaction and a pooled connection never carries them into the next one.
 * One statement, whatever the scope (the same named prepared statement).
 *
 * Ids must already be validated (uuids) by the caller.
 * @throws PlatformError subclasses from mapPostgresError (the transaction is rolled back)
 */
export async function withScope<T>(pool: DatabasePool, scope: PostgresScope, fn: (connection: DatabaseTransactionConnection) => Promise<T>): Promise<T> {
  try {
    return await pool.transaction(async (connection) => {
      await enterScope(connection, scope);
      return fn(connection);
    });
  } catch (error) {
    throw mapPostgresError(error);
  }
}

/**
 * Sets the settings of `scope` on the transaction `connection` runs in, for
 * its remaining statements (unset ones are cleared): how a transaction moves
 * from one scope to another between statements — account creation writes the
 * new user in that user's own scope, then the new organization in its tenant
 * scope, and commits both or neither. Row-level security is still what admits
 * each statement; only the scope it is checked against changes.
 *
 * Ids must already be validated (uuids) by the caller.
 */
export async function enterScope(connection: DatabaseTransactionConnection, scope: PostgresScope): Promise<void> {
  await connection.one(
    sql.prepared('pd_set_scope', settingsRow)`
      SELECT set_config('platform.organization_id', ${scope.organizationId ?? ''}, true) AS organization_id,
             set_config('platform.user_id', ${scope.userId ?? ''}, true) AS user_id,
             set_config('platform.admin_actor', ${scope.adminActor ?? ''}, true) AS admin_actor`,
  );
}

/** Retention and clean-up jobs: admin scope under a fixed actor name. */
export const MAINTENANCE_SCOPE: PostgresScope = Object.freeze({ adminActor: 'maintenance' });

const QUERY_METHODS = ['any', 'anyFirst', 'maybeOne', 'maybeOneFirst', 'one', 'oneFirst', 'query'] as const;

/** The query methods of a pool, each running in its own {@link withScope} transaction; `transaction` runs several in one. */
export type ScopedPool = Pick<CommonQueryMethods, (typeof QUERY_METHODS)[number]> & {
  transaction<T>(fn: (connection: DatabaseTransactionConnection) => Promise<T>): Promise<T>;
};

/**
 * `pool` seen through `scope`: what a repository uses where it once used the
 * owner pool, so each statement keeps its text and only the policies that
 * admit it change (sql/0070).
 *
 * @example
 * const removed = await scopedPool(postgres.appPool, MAINTENANCE_SCOPE).oneFirst(sql.type(countRow)`…`);
 * @throws PlatformError subclasses from mapPostgresError, from each method
 */
export function scopedPool(pool: DatabasePool, scope: PostgresScope): ScopedPool {
  const methods = Object.fromEntries(
    QUERY_METHODS.map((name) => [name, (...args: unknown[]) => withScope(pool, scope, (tx) => (tx[name] as (...a: unknown[]) => Promise<unknown>)(...args))]),
  );
  return { ...methods, transaction: (fn) => withScope(pool, scope, fn) } as ScopedPool;
}
