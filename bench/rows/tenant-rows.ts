import { sql } from 'slonik';
import { z } from 'zod';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { UserRepository } from '../../src/postgres/repositories/user-repository.js';
import { withTenant } from '../../src/postgres/with-tenant.js';
import { createTenantContext, type TenantContext } from '../../src/tenancy/tenant-context.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, unavailableRow, type RowSpec } from '../bench-row.js';
import { keyCycle, type BenchContext } from '../bench-context.js';
import { withClient } from '../bench-database.js';
import { runInterleaved } from '../interleaved-runner.js';

const memberRow = z.object({ user_id: z.string(), role: z.string(), email: z.string(), display_name: z.string().nullable() });

/** Below the owner pool's size (min(5, PG_POOL_SIZE)), so neither side queues for a connection. */
const CONCURRENCY = 4;

/**
 * Row 6: the price of row-level security. Both sides run the same code —
 * withTenant() (transaction + set_config + the read) — once on the app pool,
 * where the policies apply, once on the owner pool, whose role bypasses RLS;
 * so the ratio isolates policy evaluation. A second, informational row
 * compares against the bare read as owner (no transaction, no settings).
 */
export async function tenantRows(ctx: BenchContext): Promise<BenchRow[]> {
  const spec: RowSpec = {
    name: 'tenant read with RLS',
    unit: 'read',
    oursLabel: `UserRepository.listForOrganization (withTenant on the app pool, RLS applies; ${ctx.membersPerOrg} rows)`,
    baselineLabel: 'the same repository call on a platform whose application pool logs in as the owner (RLS bypassed)',
    goal: '≤ 1.15× the cost (≥ 0.87×)',
    goalMinRatio: 0.87,
    backend: ctx.backends.postgres,
  };
  const bareSpec: RowSpec = {
    name: 'tenant read with RLS vs bare owner read',
    unit: 'read',
    oursLabel: 'withTenant(appPool) read, as above',
    baselineLabel: 'the read alone as owner: no transaction, no set_config',
    backend: ctx.backends.postgres,
    note: 'informational: includes withTenant()\'s BEGIN / set_config / COMMIT round trips, not only RLS',
  };
  const connection = ctx.platform.resolve(PostgresConnection);
  let appPool;
  try {
    appPool = await connection.connectAppPool();
  } catch (error) {
    const reason = `app role cannot connect: ${(error as Error).message}`;
    return [unavailableRow(spec, reason), unavailableRow(bareSpec, reason)];
  }
  const ownerPool = connection.ownerPool;
  const bypass = await withClient(ctx.db.ownerUrl, async (c) =>
    (await c.query<{ bypass: boolean }>('SELECT rolsuper OR rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user')).rows[0]?.bypass ?? false,
  );
  if (!bypass) {
    const reason = 'the owner role is neither SUPERUSER nor BYPASSRLS here, so FORCE ROW LEVEL SECURITY applies to it too: no RLS-free baseline';
    return [unavailableRow(spec, reason), unavailableRow(bareSpec, reason)];
  }
  const owners = await withClient(ctx.db.ownerUrl, async (c) =>
    (await c.query<{ organization_id: string; user_id: string }>(`SELECT organization_id, user_id FROM memberships WHERE role = 'owner' ORDER BY organization_id`)).rows,
  );
  if (owners.length === 0) return [unavailableRow(spec, 'no tenants seeded'), unavailableRow(bareSpec, 'no tenants seeded')];
  const contexts: TenantContext[] = owners.map((o) => createTenantContext({ organizationId: o.organization_id, userId: o.user_id, role: 'owner' }));
  const read = (orgId: string) =>
    sql.type(memberRow)`
      SELECT m.user_id, m.role, u.email, u.display_name
      FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE m.organization_id = ${orgId}
      ORDER BY m.created_at, m.id
      LIMIT 50`;
  const expect = (n: number) => {
    if (n !== ctx.membersPerOrg) throw new Error(`bench: tenant read returned ${n} rows, expected ${ctx.membersPerOrg}`);
  };
  const rows: BenchRow[] = [];
  {
    // Both sides run the identical repository code; only the role behind the "application" pool differs.
    const users = ctx.platform.resolve(UserRepository);
    const ownerPlatform = await ctx.platformFor({ DATABASE_URL: ctx.db.ownerUrl, DATABASE_APP_URL: ctx.db.ownerUrl }, ['postgres']);
    await ownerPlatform.resolve(PostgresConnection).connectAppPool();
    const usersAsOwner = ownerPlatform.resolve(UserRepository);
    const nextOurs = keyCycle(contexts);
    const nextBase = keyCycle(contexts);
    ctx.log(`  ${spec.name}`);
    const result = await runInterleaved(
      async () => {
        expect((await users.listForOrganization(nextOurs(), { limit: 50 })).items.length);
      },
      async () => {
        expect((await usersAsOwner.listForOrganization(nextBase(), { limit: 50 })).items.length);
      },
      { ...ctx.timing, concurrency: CONCURRENCY },
    );
    rows.push(measuredRow(spec, result));
  }
  {
    const nextOurs = keyCycle(contexts);
    const nextBase = keyCycle(contexts);
    ctx.log(`  ${bareSpec.name}`);
    const result = await runInterleaved(
      async () => {
        const t = nextOurs();
        expect((await withTenant(appPool, t, (tx) => tx.any(read(t.organizationId)))).length);
      },
      async () => {
        expect((await ownerPool.any(read(nextBase().organizationId))).length);
      },
      { ...ctx.timing, concurrency: CONCURRENCY },
    );
    rows.push(measuredRow(bareSpec, result));
  }
  return rows;
}

/**
 * The RLS row again on private Slonik pools configured as proposed for
 * PostgresConnection (no `DISCARD ALL` on release) with the read as a named
 * prepared statement: PostgreSQL then plans the policy-expanded query once per
 * connection instead of on every call, which is where most of the RLS cost is.
 */
export async function tenantProfile(ctx: BenchContext): Promise<BenchRow[]> {
  const { createPool } = await import('slonik');
  const { createResultParserInterceptor } = await import('../../src/postgres/result-parser-interceptor.js');
  const { postgresTypeParsers } = await import('../../src/postgres/postgres-type-parsers.js');
  const make = (url: string) =>
    createPool(url, {
      maxPoolSize: CONCURRENCY,
      captureStackTrace: false,
      interceptors: [createResultParserInterceptor()],
      typeParsers: postgresTypeParsers,
      resetConnection: async () => undefined,
    });
  const [app, owner] = await Promise.all([make(ctx.db.appUrl), make(ctx.db.ownerUrl)]);
  try {
    const owners = await withClient(ctx.db.ownerUrl, async (c) =>
      (await c.query<{ organization_id: string; user_id: string }>(`SELECT organization_id, user_id FROM memberships WHERE role = 'owner' ORDER BY organization_id`)).rows,
    );
    const contexts = owners.map((o) => createTenantContext({ organizationId: o.organization_id, userId: o.user_id, role: 'owner' }));
    const read = (orgId: string) =>
      sql.prepared('bench_tenant_members', memberRow)`
        SELECT m.user_id, m.role, u.email, u.display_name
        FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = ${orgId}
        ORDER BY m.created_at, m.id
        LIMIT 50`;
    const a = keyCycle(contexts);
    const b = keyCycle(contexts);
    ctx.log('  profile: tenant read, proposed pool settings');
    const result = await runInterleaved(
      async () => {
        const t = a();
        await withTenant(app, t, (tx) => tx.any(read(t.organizationId)));
      },
      async () => {
        const t = b();
        await withTenant(owner, t, (tx) => tx.any(read(t.organizationId)));
      },
      { ...ctx.timing, concurrency: CONCURRENCY },
    );
    return [
      measuredRow(
        {
          name: 'profile: tenant read with RLS, prepared + no DISCARD ALL',
          unit: 'read',
          oursLabel: 'withTenant(app pool) with sql.prepared read; pools with resetConnection no-op',
          baselineLabel: 'the same on an owner pool (RLS bypassed)',
          goal: '≤ 1.15× the cost (≥ 0.87×)',
          goalMinRatio: 0.87,
          backend: ctx.backends.postgres,
        },
        result,
      ),
    ];
  } finally {
    await Promise.allSettled([app.end(), owner.end()]);
  }
}
