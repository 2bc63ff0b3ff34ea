import pg from 'pg';
import { sql } from 'slonik';
import { z } from 'zod';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { preparedStatement } from '../../src/postgres/prepared-statement.js';
import { USERS_FOR_ORGANIZATION, UserRepository } from '../../src/postgres/repositories/user-repository.js';
import { withTenant } from '../../src/postgres/with-tenant.js';
import { createTenantContext, type TenantContext } from '../../src/tenancy/tenant-context.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, unavailableRow, type RowSpec } from '../bench-row.js';
import { keyCycle, type BenchContext } from '../bench-context.js';
import { withAdmin } from '../bench-database.js';
import { runInterleaved, type InterleavedResult } from '../interleaved-runner.js';
import { PROFILE_ROW } from './profile-row-names.js';

/** The text of UserRepository.listForOrganization's statement (first page), sent bare as the owner (imported: a copy went stale when 0113 added six columns). */
const BARE_MEMBERS = USERS_FOR_ORGANIZATION.text;

const idRow = z.object({ id: z.string(), email: z.string() });

/** Below the owner pool's size (min(5, PG_POOL_SIZE)), so neither side queues for a connection. */
const CONCURRENCY = 4;

/** Tenant reads the server runs per call in the server-side profile row: enough that the round trip is a small share. */
const SERVER_READS = 50;

/**
 * A PL/pgSQL function (created in the bench database by the owner) that runs the tenant read SERVER_READS
 * times: the read is USERS_FOR_ORGANIZATION's text with the organization as a PL/pgSQL variable (a plan
 * parameter, as $1 is) and the first page's bounds. PL/pgSQL caches the plan per connection, as the
 * repository's named statement is, so the profile prices execution, not planning. It raises when a read
 * does not return the tenant's members: the policies are priced on the rows they admit.
 */
function serverReadsFunction(members: number, appRole: string): string {
  const read = USERS_FOR_ORGANIZATION.text
    .replace('$1::uuid', 'org')
    .replaceAll('$2::int8', 'NULL::int8')
    .replace('$3::uuid', 'NULL::uuid')
    .replace('$4::int4', '51');
  return `CREATE OR REPLACE FUNCTION bench_tenant_reads() RETURNS void LANGUAGE plpgsql AS $$
DECLARE org uuid := current_setting('platform.organization_id')::uuid; n int;
BEGIN
  FOR i IN 1..${SERVER_READS} LOOP
    SELECT count(*) INTO n FROM (${read}) page;
    IF n <> ${members} THEN RAISE EXCEPTION 'bench: tenant read returned % rows, expected ${members}', n; END IF;
  END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION bench_tenant_reads() TO ${pg.escapeIdentifier(appRole)};`;
}

/** One round trip: the tenant settings and bench_tenant_reads() in one transaction (ids are uuids read from the seeded tables). */
function serverReads(t: TenantContext): string {
  return `BEGIN;
SELECT set_config('platform.organization_id', '${t.organizationId}', true), set_config('platform.user_id', '${t.userId}', true);
SELECT bench_tenant_reads();
COMMIT;`;
}

const NO_RLS_FREE_BASELINE = 'the owner role is neither SUPERUSER nor BYPASSRLS here, so FORCE ROW LEVEL SECURITY applies to it too: no RLS-free baseline';

async function ownerBypassesRls(ctx: BenchContext): Promise<boolean> {
  return withAdmin(
    ctx.db.ownerUrl,
    async (c) =>
      (await c.query<{ bypass: boolean }>('SELECT rolsuper OR rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user')).rows[0]?.bypass ?? false,
  );
}

/** {@link serverReads} on the app role vs the owner, each through its own raw pg pool of connections that keep their plans. */
async function measureServerReads(ctx: BenchContext, contexts: readonly TenantContext[]): Promise<InterleavedResult> {
  await withAdmin(ctx.db.ownerUrl, (c) => c.query(serverReadsFunction(ctx.membersPerOrg, decodeURIComponent(new URL(ctx.db.appUrl).username))));
  const appRole = new pg.Pool({ connectionString: ctx.db.appUrl, max: CONCURRENCY });
  const ownerRole = new pg.Pool({ connectionString: ctx.db.ownerUrl, max: CONCURRENCY });
  try {
    const [a, b] = [keyCycle(contexts), keyCycle(contexts)];
    ctx.log(`  ${PROFILE_ROW.tenantPolicies}`);
    return await runInterleaved(
      async () => void (await appRole.query(serverReads(a()))),
      async () => void (await ownerRole.query(serverReads(b()))),
      { ...ctx.timing, concurrency: CONCURRENCY },
    );
  } finally {
    await Promise.all([appRole.end(), ownerRole.end()]);
  }
}

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
    shortfall: {
      reason:
        "both sides run the same repository code, pool and round trip, so the gap is the server's policy checks (the users policy's membership check, the memberships policy): the server-side profile row prices them on the server alone, where they are a larger share than in a whole call",
      profiles: [PROFILE_ROW.tenantPolicies],
    },
  };
  const bareSpec: RowSpec = {
    name: 'tenant read with RLS vs bare owner read',
    unit: 'read',
    oursLabel:
      'UserRepository.listForOrganization on the app role: tenant settings + named read pipelined before one Sync (one round trip, one implicit transaction), RLS applies, rows validated with zod',
    baselineLabel: 'the same SQL as a bare owner query: raw pg named prepared statement, no transaction, no settings, no validation',
    goal: '≥ 0.75×',
    goalMinRatio: 0.75,
    backend: ctx.backends.postgres,
    note: `${CONCURRENCY} callers; hot-path pool of min(5, PG_POOL_SIZE) connections vs a raw pg pool of 5`,
    shortfall: {
      reason:
        'the baseline is a bare owner query (no tenant settings, no RLS, no validation); ours sends the settings with the read in one round trip, has RLS evaluated and validates every row: the validation profile prices the zod pass, the pipelined profile what the settings would cost through withTenant instead',
      profiles: [PROFILE_ROW.tenantValidation, PROFILE_ROW.tenantPipelined],
    },
  };
  const connection = ctx.platform.resolve(PostgresConnection);
  try {
    await connection.connectAppPool();
  } catch (error) {
    const reason = `app role cannot connect: ${(error as Error).message}`;
    return [unavailableRow(spec, reason), unavailableRow(bareSpec, reason)];
  }
  if (!(await ownerBypassesRls(ctx))) return [unavailableRow(spec, NO_RLS_FREE_BASELINE), unavailableRow(bareSpec, NO_RLS_FREE_BASELINE)];
  const owners = await withAdmin(
    ctx.db.ownerUrl,
    async (c) =>
      (
        await c.query<{ organization_id: string; user_id: string }>(
          `SELECT organization_id, user_id FROM memberships WHERE role = 'owner' ORDER BY organization_id`,
        )
      ).rows,
  );
  if (owners.length === 0) return [unavailableRow(spec, 'no tenants seeded'), unavailableRow(bareSpec, 'no tenants seeded')];
  const contexts: TenantContext[] = owners.map((o) => createTenantContext({ organizationId: o.organization_id, userId: o.user_id, role: 'owner' }));
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
    const users = ctx.platform.resolve(UserRepository);
    const bare = new pg.Pool({ connectionString: ctx.db.ownerUrl, max: 5 });
    try {
      const nextOurs = keyCycle(contexts);
      const nextBase = keyCycle(contexts);
      ctx.log(`  ${bareSpec.name}`);
      const result = await runInterleaved(
        async () => {
          expect((await users.listForOrganization(nextOurs(), { limit: 50 })).items.length);
        },
        async () => {
          const t = nextBase();
          expect((await bare.query({ name: 'bench_bare_members', text: BARE_MEMBERS, values: [t.organizationId, null, null, 51] })).rows.length);
        },
        { ...ctx.timing, concurrency: CONCURRENCY },
      );
      rows.push(measuredRow(bareSpec, result));
    } finally {
      await bare.end();
    }
  }
  return rows;
}

/**
 * Where the tenant read's time went: the same statement through withTenant()
 * on the Slonik application pool (BEGIN, set_config, the read, COMMIT: four
 * round trips, what listForOrganization did before) against the pipelined
 * tenantQuery (one round trip) that it uses now. Both on the app role, RLS on.
 */
export async function tenantProfile(ctx: BenchContext): Promise<BenchRow[]> {
  const connection = ctx.platform.resolve(PostgresConnection);
  const app = await connection.connectAppPool();
  const users = ctx.platform.resolve(UserRepository);
  const owners = await withAdmin(
    ctx.db.ownerUrl,
    async (c) =>
      (
        await c.query<{ organization_id: string; user_id: string }>(
          `SELECT organization_id, user_id FROM memberships WHERE role = 'owner' ORDER BY organization_id`,
        )
      ).rows,
  );
  const contexts = owners.map((o) => createTenantContext({ organizationId: o.organization_id, userId: o.user_id, role: 'owner' }));
  const a = keyCycle(contexts);
  const b = keyCycle(contexts);
  ctx.log('  profile: tenant read, one pipelined round trip vs withTenant');
  const result = await runInterleaved(
    async () => void (await users.listForOrganization(a(), { limit: 50 })),
    async () => {
      const t = b();
      await withTenant(app, t, (tx) =>
        tx.any(sql.prepared('bench_members_with_tenant', idRow)`
          SELECT u.id, u.email::text AS email, u.display_name, u.username::text AS username, u.first_name, u.last_name,
            u.avatar_url, u.timezone, u.language, u.status::text AS status, u.email_verified_at, u.failed_login_count,
            u.locked_until, u.must_change_password, u.last_login_at, host(u.last_login_ip) AS last_login_ip, u.terms_version, u.terms_accepted_at,
            u.privacy_version, u.privacy_accepted_at, u.marketing_consent_version, u.marketing_consent_at, u.age_confirmed_at,
            u.created_at, u.updated_at, u.deleted_at, (extract(epoch FROM u.created_at) * 1000000)::int8 AS sort_us
          FROM users u JOIN memberships m ON m.user_id = u.id AND m.organization_id = ${t.organizationId}
          WHERE u.deleted_at IS NULL
          ORDER BY u.created_at, u.id
          LIMIT 51`),
      );
    },
    { ...ctx.timing, concurrency: CONCURRENCY },
  );
  const unvalidated = preparedStatement('bench_users_for_organization_unvalidated', USERS_FOR_ORGANIZATION.text, z.unknown());
  const c = keyCycle(contexts);
  const d = keyCycle(contexts);
  ctx.log('  profile: tenant read, row validation');
  const validation = await runInterleaved(
    async () => void (await users.listForOrganization(c(), { limit: 50 })),
    async () => {
      const t = d();
      await connection.tenantQuery(t, unvalidated, [t.organizationId, null, null, 51]);
    },
    { ...ctx.timing, concurrency: CONCURRENCY },
  );
  const policiesSpec: RowSpec = {
    name: PROFILE_ROW.tenantPolicies,
    unit: `${SERVER_READS} reads`,
    oursLabel: `the tenant read's statement ${SERVER_READS} times in one PL/pgSQL function call (plans cached per connection) on the app role, RLS applies, raw pg`,
    baselineLabel: 'the same call as the owner (RLS bypassed)',
    backend: ctx.backends.postgres,
    note: `server execution only: one round trip and no client work per ${SERVER_READS} reads, so the ratio is what the policies cost the server`,
  };
  const policies = (await ownerBypassesRls(ctx))
    ? measuredRow(policiesSpec, await measureServerReads(ctx, contexts))
    : unavailableRow(policiesSpec, NO_RLS_FREE_BASELINE);
  return [
    policies,
    measuredRow(
      {
        name: PROFILE_ROW.tenantValidation,
        unit: 'read',
        oursLabel: 'UserRepository.listForOrganization (access check, page input parsed, every row validated and mapped by zod, cursor encoded)',
        baselineLabel: 'PostgresConnection.tenantQuery, the same statement and scope, a schema that accepts anything',
        backend: ctx.backends.postgres,
      },
      validation,
    ),
    measuredRow(
      {
        name: PROFILE_ROW.tenantPipelined,
        unit: 'read',
        oursLabel: 'UserRepository.listForOrganization (tenantQuery: settings + read, one Sync, one round trip)',
        baselineLabel:
          'withTenant(app pool) + the same statement, sql.prepared (BEGIN, set_config, read, COMMIT: four round trips; the previous implementation)',
        backend: ctx.backends.postgres,
      },
      result,
    ),
  ];
}
