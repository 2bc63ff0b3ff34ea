/**
 * `npm run bench [-- --quick] [-- --out FILE] [-- --no-docs] [-- --only PATTERN]`
 *
 * Runs every benchmark row on the local stack (startLocalStack), in its own
 * PostgreSQL databases and Redis key prefixes, writes bench/results/latest.json
 * (or --out) and regenerates the results block of docs/benchmarks.md. A
 * `--quick` run writes test-results/bench-quick.json and leaves the docs alone.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { createPlatform, type Platform } from '../src/platform.js';
import { AuditRepository } from '../src/postgres/repositories/audit-repository.js';
import { startLocalStack } from '../src/testing/start-local-stack.js';
import type { StoreName } from '../src/errors.js';
import type { BenchReport, BenchRow, Ceilings } from './bench-result.js';
import type { BenchContext } from './bench-context.js';
import { createBenchDatabase, dropBenchDatabase, seedTenants, seedUsers, withAdmin } from './bench-database.js';
import { unavailableRow } from './bench-row.js';
import { attachShortfalls } from './attach-shortfalls.js';
import { machineBasics, measureCeilings, postgresVersion } from './machine-info.js';
import { renderResults, spliceResults } from './render-benchmarks-markdown.js';
import { repoRoot } from './repo-root.js';
import { sessionGrowthRow, userGrowthRow, userGrowthSameKeysProfile } from './rows/growth-rows.js';
import { auditInsertProfileRow, auditRow } from './rows/audit-rows.js';
import { auditGrowthRow, seedAuditHistory } from './rows/audit-growth-row.js';
import { knowledgeRow } from './rows/knowledge-rows.js';
import { semanticSearchRows } from './rows/semantic-search-row.js';
import { loginProfileRow, loginRow } from './rows/login-rows.js';
import { repositoryUserLookup, userRepositoryRows } from './rows/user-repository-rows.js';
import { deletePrefix, seedSessions, sessionProfile, sessionRows } from './rows/session-rows.js';
import { tenantProfile, tenantRows } from './rows/tenant-rows.js';
import { pgBouncerRow, redisClusterRows } from './rows/scale-out-rows.js';
import { replicaReadRow } from './rows/replica-read-row.js';
import { isProfileRow } from './rows/profile-row-names.js';
import { userLookupProfile } from './rows/user-lookup-profile.js';

interface Sizes {
  readonly largeUsers: number;
  readonly smallUsers: number;
  readonly orgs: number;
  readonly membersPerOrg: number;
  readonly smallSessions: number;
  readonly largeSessions: number;
  /** Audit rows for the audit growth row (0 = the row is skipped: quick runs). */
  readonly largeAudit: number;
  readonly smallAudit: number;
  readonly auditOrgs: number;
}

const FULL: Sizes = {
  largeUsers: 1_000_000,
  smallUsers: 10_000,
  orgs: 1_000,
  membersPerOrg: 20,
  smallSessions: 10_000,
  largeSessions: 1_000_000,
  largeAudit: 10_000_000,
  smallAudit: 100_000,
  auditOrgs: 1_000,
};
const QUICK: Sizes = {
  largeUsers: 100_000,
  smallUsers: 10_000,
  orgs: 200,
  membersPerOrg: 10,
  smallSessions: 10_000,
  largeSessions: 100_000,
  largeAudit: 0,
  smallAudit: 0,
  auditOrgs: 0,
};

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function redisVersion(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true });
  try {
    await client.connect();
    return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
  } finally {
    client.disconnect();
  }
}

/** Runs a group of rows; a failure becomes a row that says so instead of ending the run. */
async function guarded(name: string, fallback: () => BenchRow[], fn: () => Promise<BenchRow[]>): Promise<BenchRow[]> {
  try {
    return await fn();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`${name} failed: ${message}`);
    return fallback().map((r) => ({ ...r, ours: null, baseline: null, ratio: null, met: null, note: `failed in this run: ${message}` }));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      docs: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      repeats: { type: 'string' },
      only: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick === true;
  const root = repoRoot();
  // --only runs the row groups whose name matches (a trial while working on one hot path): it never
  // writes the full run's results or docs either.
  const only = values.only === undefined ? undefined : new RegExp(values.only, 'i');
  const partial = quick || only !== undefined;
  // A quick run is a shape check with noisy figures: it never replaces the full run's results or docs.
  const outFile = resolve(root, values.out ?? (only ? 'test-results/bench-only.json' : quick ? 'test-results/bench-quick.json' : 'bench/results/latest.json'));
  const docsFile = values['no-docs'] || (partial && values.docs === undefined) ? undefined : resolve(root, values.docs ?? 'docs/benchmarks.md');
  const group = (name: string, fallback: () => BenchRow[], fn: () => Promise<BenchRow[]>): Promise<BenchRow[]> =>
    only && !only.test(name) ? Promise.resolve([]) : guarded(name, fallback, fn);
  const sizes = quick ? QUICK : FULL;
  // Full runs measure every row 3 times back to back (median and spread); quick runs once.
  const repeats = values.repeats === undefined ? (quick ? 1 : 3) : Math.max(1, Number.parseInt(values.repeats, 10) || 1);
  const timing = quick
    ? { concurrency: 8, rounds: 4, sliceMs: 150, warmupMs: 150, maxOpsPerSlice: 200_000, repeats }
    : { concurrency: 8, rounds: 6, sliceMs: 600, warmupMs: 600, maxOpsPerSlice: 2_000_000, repeats };
  const started = performance.now();
  const basics = machineBasics();
  const runId = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((error: unknown) => log(`cleanup: ${(error as Error).message}`));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const stack = await startLocalStack({ stores: ['postgres', 'redis', 'qdrant', 'mongo'], log: (line) => log(line) });
    cleanups.push(() => stack.stop());
    const adminUrl = stack.urls.postgres;
    const redisUrl = stack.urls.redis;
    if (!adminUrl || !redisUrl) throw new Error(`bench needs PostgreSQL and Redis: ${stack.stores.postgres.detail}; ${stack.stores.redis.detail}`);
    const [pgVersion, rVersion] = await Promise.all([postgresVersion(adminUrl), redisVersion(redisUrl)]);
    const backends = {
      postgres: `PostgreSQL ${pgVersion} (${stack.backends.postgres})`,
      redis: `Redis ${rVersion} (${stack.backends.redis})`,
      qdrant: stack.backends.qdrant === 'stand-in' ? 'Qdrant REST stand-in (in-process, not a real Qdrant)' : `Qdrant (${stack.backends.qdrant})`,
      qdrantUrl: stack.urls.qdrant,
    };

    log('ceilings: pgbench and redis-benchmark');
    const ceilings: Ceilings = await measureCeilings({ adminUrl, redisUrl, scratchDatabase: `pd_bench_${runId}_pgbench`, quick });
    log(`ceilings: pgbench ${ceilings.pgbenchSelectTps ?? '—'} TPS, redis GET ${ceilings.redisGetRps ?? '—'}/s`);

    const mainName = `pd_bench_${runId}_main`;
    const smallName = `pd_bench_${runId}_small`;
    cleanups.push(() => dropBenchDatabase(adminUrl, mainName));
    cleanups.push(() => dropBenchDatabase(adminUrl, smallName));
    log(`databases ${mainName}, ${smallName}: migrating`);
    const [db, smallDb] = await Promise.all([createBenchDatabase(adminUrl, mainName), createBenchDatabase(adminUrl, smallName)]);
    let t = performance.now();
    await Promise.all([seedUsers(db.ownerUrl, 1, sizes.largeUsers), seedUsers(smallDb.ownerUrl, 1, sizes.smallUsers)]);
    log(`seeded ${sizes.largeUsers.toLocaleString('en')} + ${sizes.smallUsers.toLocaleString('en')} users in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    await seedTenants(db.ownerUrl, sizes.orgs, sizes.membersPerOrg);
    const sessionsInPostgres = await withAdmin(db.ownerUrl, async (c) => {
      const r = await c.query(
        `INSERT INTO sessions (user_id, organization_id, access_token_jti, expires_at)
         SELECT user_id, organization_id, 'bench-jti-' || id, now() + interval '1 day' FROM memberships`,
      );
      await c.query('VACUUM ANALYZE sessions');
      return r.rowCount ?? 0;
    });

    const baseEnv: Record<string, string> = {
      LOG_LEVEL: 'silent',
      PLATFORM_ENV: 'test',
      PG_POOL_SIZE: '8',
      // Cheap hashing for every row that hashes in passing (seeding, the login profile row); the login
      // row itself runs on its own platform at the default cost (bench/rows/login-rows.ts).
      BCRYPT_COST: '10',
      REDIS_URL: redisUrl,
      ...(stack.urls.qdrant ? { QDRANT_URL: stack.urls.qdrant } : {}),
    };
    const platforms: Platform[] = [];
    cleanups.push(() => Promise.allSettled(platforms.map((p) => p.stop())));
    const platformFor = async (overrides: Record<string, string>, stores: readonly StoreName[]): Promise<Platform> => {
      const platform = createPlatform(loadConfig({ ...baseEnv, ...overrides }), { stores });
      platforms.push(platform);
      await platform.start();
      return platform;
    };
    const redisPrefix = `bench${runId}:`;
    const largeRedisPrefix = `bench${runId}L:`;
    const prefixClient = new Redis(redisUrl, { lazyConnect: true });
    await prefixClient.connect();
    cleanups.push(async () => {
      await Promise.all([deletePrefix(prefixClient, redisPrefix), deletePrefix(prefixClient, largeRedisPrefix), deletePrefix(prefixClient, `bench${runId}S:`)]);
      prefixClient.disconnect();
    });
    let auditHistory: { large: { rows: number; orgs: string[] }; small: { rows: number; orgs: string[] } } | undefined;
    if (sizes.largeAudit > 0 && (only === undefined || only.test('audit growth'))) {
      t = performance.now();
      const [largeOrgs, smallOrgs] = [
        await seedAuditHistory(db.ownerUrl, sizes.largeAudit, sizes.auditOrgs),
        await seedAuditHistory(smallDb.ownerUrl, sizes.smallAudit, sizes.auditOrgs),
      ];
      auditHistory = { large: { rows: sizes.largeAudit, orgs: largeOrgs }, small: { rows: sizes.smallAudit, orgs: smallOrgs } };
      log(
        `seeded ${sizes.largeAudit.toLocaleString('en')} + ${sizes.smallAudit.toLocaleString('en')} audit rows in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    const platform = await platformFor({ DATABASE_URL: db.ownerUrl, DATABASE_APP_URL: db.appUrl, REDIS_KEY_PREFIX: redisPrefix }, ['postgres', 'redis']);
    // The audit table is partitioned by month; make sure this month has its partition, as the retention job would.
    await platform
      .resolve(AuditRepository)
      .ensurePartitions(1)
      .catch(() => undefined);
    const smallPlatform = await platformFor({ DATABASE_URL: smallDb.ownerUrl, DATABASE_APP_URL: smallDb.appUrl }, ['postgres']);
    const largeRedisPlatform = await platformFor({ REDIS_KEY_PREFIX: largeRedisPrefix }, ['redis']);
    t = performance.now();
    await seedSessions(platform, prefixClient, sizes.smallSessions);
    await seedSessions(largeRedisPlatform, prefixClient, sizes.largeSessions);
    log(
      `cached ${sizes.smallSessions.toLocaleString('en')} + ${sizes.largeSessions.toLocaleString('en')} sessions in Redis in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    const ctx: BenchContext = {
      quick,
      timing,
      db,
      smallDb,
      largeUsers: sizes.largeUsers,
      smallUsers: sizes.smallUsers,
      orgs: sizes.orgs,
      membersPerOrg: sizes.membersPerOrg,
      sessionsInPostgres,
      platform,
      smallPlatform,
      redisUrl,
      redisPrefix,
      backends,
      platformFor,
      log,
    };

    const rows: BenchRow[] = [];
    log('rows');
    rows.push(
      ...(await group(
        'user repository rows',
        () => [
          unavailableRow(
            {
              name: 'user by email vs raw pg',
              unit: 'lookup',
              oursLabel: 'UserRepository.findCredentialsByEmail',
              baselineLabel: 'raw pg, named prepared',
              goal: '≥ 0.95×',
              goalMinRatio: 0.95,
              backend: backends.postgres,
            },
            '',
          ),
          unavailableRow(
            {
              name: 'user by email vs Drizzle',
              unit: 'lookup',
              oursLabel: 'UserRepository.findCredentialsByEmail',
              baselineLabel: 'Drizzle .prepare()',
              goal: '≥ 1.05×',
              goalMinRatio: 1.05,
              backend: backends.postgres,
            },
            '',
          ),
        ],
        () => userRepositoryRows(ctx),
      )),
    );
    rows.push(
      ...(await group(
        'session rows',
        () => [
          unavailableRow(
            {
              name: 'session validate (Redis hit)',
              unit: 'validate',
              oursLabel: 'SessionCache.validate',
              baselineLabel: 'bare ioredis GET',
              goal: '≥ 0.80×',
              goalMinRatio: 0.8,
              backend: backends.redis,
            },
            '',
          ),
          unavailableRow(
            {
              name: 'session validate (miss → Postgres)',
              unit: 'validate',
              oursLabel: 'miss path',
              baselineLabel: 'one Postgres query',
              goal: '≥ 0.70×',
              goalMinRatio: 0.7,
              backend: backends.postgres,
            },
            '',
          ),
        ],
        () => sessionRows(ctx, sizes.smallSessions),
      )),
    );
    rows.push(
      ...(await group(
        'audit row',
        () => [
          unavailableRow(
            {
              name: 'audit writes',
              unit: 'event',
              oursLabel: 'AuditWriter',
              baselineLabel: 'one INSERT per event',
              goal: '≥ 20×',
              goalMinRatio: 20,
              backend: backends.postgres,
            },
            '',
          ),
        ],
        async () => [await auditRow(ctx)],
      )),
    );
    rows.push(
      ...(await group(
        'login row',
        () => [
          unavailableRow(
            {
              name: 'login throughput',
              unit: 'login',
              oursLabel: 'PasswordSignIn.login',
              baselineLabel: 'bcrypt compare alone',
              goal: '≥ 0.97×',
              goalMinRatio: 0.97,
              backend: backends.postgres,
            },
            '',
          ),
        ],
        async () => [await loginRow(ctx)],
      )),
    );
    rows.push(
      ...(await group(
        'tenant rows',
        () => [
          unavailableRow(
            {
              name: 'tenant read with RLS',
              unit: 'read',
              oursLabel: 'withTenant(appPool)',
              baselineLabel: 'owner, RLS bypassed',
              goal: '≤ 1.15× the cost (≥ 0.87×)',
              goalMinRatio: 0.87,
              backend: backends.postgres,
            },
            '',
          ),
        ],
        () => tenantRows(ctx),
      )),
    );
    rows.push(
      ...(await group(
        'knowledge row',
        () => [
          unavailableRow(
            {
              name: 'knowledge ingestion (Qdrant upserts)',
              unit: 'chunk',
              oursLabel: 'EmbeddingIndex.upsert batched',
              baselineLabel: 'one upsert per chunk',
              backend: backends.qdrant,
            },
            '',
          ),
        ],
        async () => [await knowledgeRow(ctx, runId)],
      )),
    );
    // The row's profile rows are measured in its setup; they are reported with the other profile rows.
    const semantic = await group(
      'semantic search row',
      () => [
        unavailableRow(
          {
            name: 'semantic search end to end vs the Qdrant query alone',
            unit: 'search',
            oursLabel: 'KnowledgeSearch.semanticSearch',
            baselineLabel: 'EmbeddingIndex.search alone',
            metric: 'p50',
            goal: '≥ 0.6× (p50)',
            goalMinRatio: 0.6,
            backend: backends.qdrant,
          },
          '',
        ),
      ],
      () => semanticSearchRows(ctx, runId, stack.urls.mongo),
    );
    rows.push(...semantic.filter((r) => !isProfileRow(r)));
    rows.push(
      ...(await group(
        'user growth',
        () => [
          unavailableRow(
            {
              name: 'growth: user by email',
              unit: 'lookup',
              oursLabel: 'large',
              baselineLabel: 'small',
              metric: 'p50',
              goal: 'p50 ≤ 1.3× apart (≥ 0.77×)',
              goalMinRatio: 1 / 1.3,
              backend: backends.postgres,
            },
            '',
          ),
        ],
        async () => [await userGrowthRow(ctx, repositoryUserLookup, 'UserRepository.findCredentialsByEmail')],
      )),
    );
    rows.push(
      ...(await group(
        'session growth',
        () => [
          unavailableRow(
            { name: 'growth: session validate', unit: 'validate', oursLabel: 'large', baselineLabel: 'small', metric: 'p50', backend: backends.redis },
            '',
          ),
        ],
        async () => [await sessionGrowthRow(ctx, largeRedisPlatform, sizes.largeSessions, platform, sizes.smallSessions)],
      )),
    );
    if (auditHistory) {
      const history = auditHistory;
      rows.push(
        ...(await group(
          'audit growth',
          () => [
            unavailableRow(
              {
                name: 'growth: audit query for one organization',
                unit: 'query',
                oursLabel: 'large',
                baselineLabel: 'small',
                metric: 'p50',
                goal: 'p50 ≤ 1.3× apart (≥ 0.77×)',
                goalMinRatio: 1 / 1.3,
                backend: backends.postgres,
              },
              '',
            ),
          ],
          async () => [await auditGrowthRow(ctx, history.large, history.small)],
        )),
      );
    }
    // Each scale-out row on its own: a missing pgbouncer must not discard the Redis Cluster row. The cluster's
    // profile row is measured with it (its servers live for the row) and reported with the other profile rows.
    const cluster = await group(
      'redis cluster row',
      () => [
        unavailableRow(
          {
            name: 'session validate: Redis Cluster vs one node',
            unit: 'validate',
            oursLabel: 'SessionCache.validate on a Redis Cluster',
            baselineLabel: 'on one node',
            goal: '≥ 0.9×',
            goalMinRatio: 0.9,
            backend: backends.redis,
          },
          '',
        ),
      ],
      () => redisClusterRows(ctx),
    );
    rows.push(...cluster.filter((r) => !isProfileRow(r)));
    rows.push(
      ...(await group(
        'pgbouncer row',
        () => [
          unavailableRow(
            {
              name: 'user by email: through PgBouncer vs direct',
              unit: 'lookup',
              oursLabel: 'via PgBouncer',
              baselineLabel: 'direct',
              backend: backends.postgres,
            },
            '',
          ),
        ],
        async () => [await pgBouncerRow(ctx)],
      )),
    );
    rows.push(
      ...(await group(
        'replica row',
        () => [
          unavailableRow(
            {
              name: 'replica reads under concurrent primary writes',
              unit: 'query',
              oursLabel: 'AuditRepository.query on the standby',
              baselineLabel: 'on the primary',
              backend: backends.postgres,
            },
            '',
          ),
        ],
        async () => [await replicaReadRow(ctx)],
      )),
    );
    log('profile');
    const profile = [
      ...(await group(
        'user lookup profile',
        () => [],
        () => userLookupProfile(ctx),
      )),
      ...(await group(
        'user growth profile',
        () => [],
        async () => [await userGrowthSameKeysProfile(ctx, repositoryUserLookup, 'UserRepository.findCredentialsByEmail')],
      )),
      ...(await group(
        'tenant profile',
        () => [],
        () => tenantProfile(ctx),
      )),
      ...(await group(
        'session profile',
        () => [],
        () => sessionProfile(ctx, sizes.smallSessions),
      )),
      ...(await group(
        'login profile',
        () => [],
        async () => [await loginProfileRow(ctx)],
      )),
      ...(await group(
        'audit profile',
        () => [],
        async () => [await auditInsertProfileRow(ctx)],
      )),
      ...[...semantic, ...cluster].filter(isProfileRow),
    ];

    const report: BenchReport = {
      mode: quick ? 'quick' : 'full',
      durationSeconds: Math.round((performance.now() - started) / 1000),
      repeats,
      loadAverageAtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      machine: { ...basics, postgres: pgVersion, redis: rVersion, date: new Date().toISOString(), ceilings },
      rows: attachShortfalls(rows, profile),
      profile,
    };
    await mkdir(dirname(outFile), { recursive: true });
    await writeFile(outFile, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${outFile}`);
    if (docsFile) {
      const existing = await readFile(docsFile, 'utf8').catch(() => '# Benchmarks\n');
      await writeFile(docsFile, spliceResults(existing, renderResults(report)));
      log(`updated ${docsFile}`);
    }
    for (const r of [...report.rows, ...profile]) {
      const status = r.ours === null ? `n/a (${r.note ?? ''})` : `ratio ${r.ratio ?? '—'}${r.met === null ? '' : r.met ? ' met' : ' MISSED'}`;
      log(`${r.name.padEnd(48)} ${status}`);
    }
  } finally {
    await cleanup();
    log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
