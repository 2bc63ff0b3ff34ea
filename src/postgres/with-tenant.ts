import { sql, type DatabasePool, type DatabaseTransactionConnection } from 'slonik';
import { z } from 'zod';
import type { TenantContext } from '../tenancy/tenant-context.js';
import { mapPostgresError } from './map-postgres-error.js';

const settingsRow = z.object({ organization_id: z.string(), user_id: z.string() });

/**
 * Runs `fn` in a transaction on `pool` (the application-role pool) with the
 * tenant set transaction-locally, so row-level security confines every query
 * to `ctx.organizationId` / `ctx.userId` and the setting ends with the
 * transaction — a pooled connection never carries it into the next one.
 *
 * @example
 * const personas = await withTenant(postgres.appPool, ctx, (tx) => tx.any(sql.type(personaRow)`SELECT * FROM personas`));
 * @throws PlatformError subclasses from mapPostgresError (the transaction is rolled back)
 */
export async function withTenant<T>(pool: DatabasePool, ctx: TenantContext, fn: (connection: DatabaseTransactionConnection) => Promise<T>): Promise<T> {
  try {
    return await pool.transaction(async (connection) => {
      await connection.one(
        sql.prepared('pd_set_tenant', settingsRow)`
          SELECT set_config('platform.organization_id', ${ctx.organizationId}, true) AS organization_id,
                 set_config('platform.user_id', ${ctx.userId}, true) AS user_id`,
      );
      return fn(connection);
    });
  } catch (error) {
    throw mapPostgresError(error);
  }
}
