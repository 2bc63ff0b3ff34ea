import { AuditRepository } from '../../src/postgres/repositories/audit-repository.js';
import { createTenantContext } from '../../src/tenancy/tenant-context.js';
import { startPostgresPair } from '../../src/testing/start-postgres-pair.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, type RowSpec } from '../bench-row.js';
import { keyCycle, type BenchContext } from '../bench-context.js';
import { createBenchDatabase, databaseUrl } from '../bench-database.js';
import { runInterleaved } from '../interleaved-runner.js';
import { portRange } from './port-range.js';
import { seedAuditHistory } from './audit-growth-row.js';

const WRITERS = 2;
const READERS = 4;

/**
 * Issue 21's row: audit queries (the lag-tolerant read, `DATABASE_REPLICA_URL`) on a streaming standby vs the
 * same queries on the primary, while WRITERS callers keep appending audit events to the primary. Starts a
 * private primary + standby (startPostgresPair, PostgreSQL 15 binaries) for the row and stops them after.
 */
export async function replicaReadRow(ctx: BenchContext): Promise<BenchRow> {
  const spec: RowSpec = {
    name: 'replica reads under concurrent primary writes',
    unit: 'query',
    oursLabel: 'AuditRepository.query(ctx, {}, { limit: 50 }) with DATABASE_REPLICA_URL: read on the streaming standby',
    baselineLabel: 'the same query on the primary (no replica configured)',
    backend: 'PostgreSQL 15 primary + streaming standby on loopback (startPostgresPair)',
    note: `informational: ${READERS} readers each side while ${WRITERS} writers append audit events to the primary (one INSERT per event) throughout`,
  };
  await using pair = await startPostgresPair({ portRange: portRange('BENCH_POSTGRES_PAIR_PORTS', [5721, 5722]) });
  const db = await createBenchDatabase(pair.primaryUrl, 'platform_bench');
  const orgs = await seedAuditHistory(db.ownerUrl, ctx.quick ? 20_000 : 200_000, 100);
  const common = { DATABASE_URL: db.ownerUrl, DATABASE_APP_URL: db.appUrl };
  const withReplica = await ctx.platformFor({ ...common, DATABASE_REPLICA_URL: databaseUrl(pair.standbyUrl, db.name, 'platform_app') }, ['postgres']);
  const primaryOnly = await ctx.platformFor(common, ['postgres']);
  try {
    const writer = primaryOnly.resolve(AuditRepository);
    await writer.ensurePartitions(1);
    const contexts = orgs.map((organizationId) => createTenantContext({ organizationId, userId: '00000000-0000-4000-8000-00000000a0d2', role: 'owner' }));
    // The standby has replayed the seed once it answers the query (replication lag only delays new rows).
    const [replicaRepo, primaryRepo] = [withReplica.resolve(AuditRepository), primaryOnly.resolve(AuditRepository)];
    for (let i = 0; i < 100 && (await replicaRepo.query(contexts[0]!, {}, { limit: 1 })).items.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    let writing = true;
    let n = 0;
    const writers = Array.from({ length: WRITERS }, async () => {
      while (writing) {
        n += 1;
        await writer.append([{ eventType: 'bench.replica_write', organizationId: orgs[n % orgs.length], riskScore: n % 100, details: { n } }]);
      }
    });
    try {
      const [a, b] = [keyCycle(contexts), keyCycle(contexts)];
      ctx.log(`  ${spec.name}`);
      const result = await runInterleaved(
        async () => {
          if ((await replicaRepo.query(a(), {}, { limit: 50 })).items.length === 0) throw new Error('bench: no audit rows on the standby');
        },
        async () => {
          if ((await primaryRepo.query(b(), {}, { limit: 50 })).items.length === 0) throw new Error('bench: no audit rows on the primary');
        },
        { ...ctx.timing, concurrency: READERS },
      );
      return measuredRow({ ...spec, note: `${spec.note}; ${n.toLocaleString('en')} events written during the row` }, result);
    } finally {
      writing = false;
      await Promise.allSettled(writers);
    }
  } finally {
    await Promise.allSettled([withReplica.stop(), primaryOnly.stop()]);
  }
}
