import { AuditRepository } from '../../src/postgres/repositories/audit-repository.js';
import { createTenantContext, type TenantContext } from '../../src/tenancy/tenant-context.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, type RowSpec } from '../bench-row.js';
import { keyCycle, type BenchContext } from '../bench-context.js';
import { withAdmin } from '../bench-database.js';
import { runInterleaved } from '../interleaved-runner.js';

const compact = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000} M` : `${n / 1_000} k`);
const HISTORY = 'audit_log_bench_history';

/**
 * Adds `rows` audit events spread over `orgs` organizations (created here, slug `audit-org-<n>`) as one
 * month of history (January 2020), the fast way: generate_series into a plain table with the audit
 * table's columns and checks, then ATTACH PARTITION, which builds the partition's indexes in one sort
 * each instead of maintaining four indexes row by row. The rows are then exactly what the audit
 * table holds (same indexes, constraints and row-level security through the parent).
 * @returns the organizations' ids
 */
export async function seedAuditHistory(ownerUrl: string, rows: number, orgs: number): Promise<string[]> {
  return withAdmin(ownerUrl, async (c) => {
    await c.query(`SET synchronous_commit = off`);
    await c.query(`SET maintenance_work_mem = '256MB'`);
    await c.query(`INSERT INTO organizations (name, slug, tier) SELECT 'Audit Org ' || g, 'audit-org-' || g, 'pro' FROM generate_series(1, $1::int) AS g`, [
      orgs,
    ]);
    const { rows: ids } = await c.query<{ id: string }>(`SELECT id FROM organizations WHERE slug LIKE 'audit-org-%' ORDER BY slug`);
    await c.query(`CREATE TABLE ${HISTORY} (LIKE audit_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
    await c.query(
      `INSERT INTO ${HISTORY} (id, created_at, event_type, organization_id, actor_user_id, risk_score, details)
       SELECT gen_random_uuid(), timestamptz '2020-01-01 00:00:00+00' + (g % 2678000) * interval '1 second', 'bench.history',
              ($3::uuid[])[1 + g % $2::int], NULL, (g % 100)::int2, '{}'::jsonb
       FROM generate_series(1, $1::int) AS g`,
      [rows, orgs, ids.map((r) => r.id)],
    );
    await c.query(`ALTER TABLE audit_log ATTACH PARTITION ${HISTORY} FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-02-01 00:00:00+00')`);
    await c.query(`VACUUM ANALYZE ${HISTORY}`);
    return ids.map((r) => r.id);
  });
}

/**
 * Growth of the audit read: p50 of AuditRepository.query (one organization's newest page, RLS on the app
 * role) on a database with `large` audit rows vs one with `small`, the same number of organizations in both
 * (so each organization's history grows by the same factor as the table).
 */
export async function auditGrowthRow(
  ctx: BenchContext,
  large: { rows: number; orgs: readonly string[] },
  small: { rows: number; orgs: readonly string[] },
): Promise<BenchRow> {
  const spec: RowSpec = {
    name: `growth: audit query for one organization, ${compact(large.rows)} vs ${compact(small.rows)} audit rows`,
    unit: 'query',
    oursLabel: `AuditRepository.query(ctx, {}, { limit: 50 }) on ${compact(large.rows)} rows (${large.orgs.length.toLocaleString('en')} organizations)`,
    baselineLabel: `the same on ${compact(small.rows)} rows (${small.orgs.length.toLocaleString('en')} organizations)`,
    metric: 'p50',
    goal: 'p50 ≤ 1.3× apart (≥ 0.77×)',
    goalMinRatio: 1 / 1.3,
    backend: ctx.backends.postgres,
    shortfall: {
      reason:
        "no profile row isolates it: both sides run the same query on partitions of different sizes, so the gap is the server's (index depth, pages not in cache)",
      profiles: [],
    },
    note: 'full runs only (building the large table takes minutes); rows generated with generate_series and attached as a partition',
  };
  const context = (organizationId: string): TenantContext =>
    createTenantContext({ organizationId, userId: '00000000-0000-4000-8000-00000000a0d1', role: 'owner' });
  const a = ctx.platform.resolve(AuditRepository);
  const b = ctx.smallPlatform.resolve(AuditRepository);
  const nextA = keyCycle(large.orgs.map(context));
  const nextB = keyCycle(small.orgs.map(context));
  ctx.log(`  ${spec.name}`);
  const result = await runInterleaved(
    async () => {
      if ((await a.query(nextA(), {}, { limit: 50 })).items.length === 0) throw new Error('bench: no audit rows (large)');
    },
    async () => {
      if ((await b.query(nextB(), {}, { limit: 50 })).items.length === 0) throw new Error('bench: no audit rows (small)');
    },
    { ...ctx.timing, concurrency: 4 },
  );
  return measuredRow(spec, result);
}
