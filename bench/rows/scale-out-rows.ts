import { randomUUID } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import { UserRepository } from '../../src/postgres/repositories/user-repository.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { SessionCache } from '../../src/redis/repositories/session-cache.js';
import { startPgBouncer } from '../../src/testing/start-pgbouncer.js';
import { startLocalStack } from '../../src/testing/start-local-stack.js';
import { startRedisCluster } from '../../src/testing/start-redis-cluster.js';
import type { Platform } from '../../src/platform.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, unavailableRow, type RowSpec } from '../bench-row.js';
import { keyCycle, sampleIds, type BenchContext } from '../bench-context.js';
import { benchEmail } from '../bench-database.js';
import { runInterleaved, type InterleavedResult } from '../interleaved-runner.js';
import { PROFILE_ROW } from './profile-row-names.js';
import { portRange } from './port-range.js';

const CONCURRENCY = 16;
const POOL_CALLERS = 8;
const PGBOUNCER_BINARY = '/usr/sbin/pgbouncer';

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Caches the same `count` sessions through SessionCache.put on each platform (a cluster pipeline cannot span slots: one put per session). */
async function seed(platforms: readonly Platform[], count: number): Promise<Array<{ userId: string; sessionId: string }>> {
  const sessions = Array.from({ length: count }, () => ({ userId: randomUUID(), sessionId: randomUUID() }));
  const expiresAt = Date.now() + 30 * 60 * 1000;
  for (const platform of platforms) {
    const cache = platform.resolve(SessionCache);
    for (let i = 0; i < sessions.length; i += 500) {
      await Promise.all(sessions.slice(i, i + 500).map((s) => cache.put({ ...s, organizationId: null, expiresAt, revocationEpoch: 0, roles: ['member'] })));
    }
  }
  return sessions;
}

/**
 * Scale-out row (docs/scaling.md): session validate on a real 3-master +
 * 3-replica Redis Cluster vs the one-node Redis. Starts its servers from the
 * machine's redis-server for the row and stops them after. Also returns the
 * profile row that prices the cluster without SessionCache.
 */
export async function redisClusterRows(ctx: BenchContext): Promise<BenchRow[]> {
  {
    // Both sides private and alike (redis-server 7, no persistence, loopback): the machine's shared Redis would
    // compare a loaded server with an idle one.
    await using cluster = await startRedisCluster({ portRange: portRange('BENCH_REDIS_CLUSTER_PORTS', [7101, 7110]) });
    await using node = await startLocalStack({ stores: ['redis'], localServers: false, containers: false, env: {}, log: () => undefined });
    if (!node.urls.redis) throw new Error(`bench: no private redis-server: ${node.stores.redis.detail}`);
    const onCluster = await ctx.platformFor({ REDIS_CLUSTER_NODES: cluster.clusterNodesEnv, REDIS_KEY_PREFIX: `${ctx.redisPrefix}c:` }, ['redis']);
    const single = await ctx.platformFor({ REDIS_URL: node.urls.redis, REDIS_KEY_PREFIX: `${ctx.redisPrefix}s:` }, ['redis']);
    const sessions = await seed([onCluster, single], ctx.quick ? 2_000 : 20_000);
    const [a, b] = [keyCycle(sessions), keyCycle(sessions)];
    const [clusterCache, singleCache] = [onCluster.resolve(SessionCache), single.resolve(SessionCache)];
    const spec: RowSpec = {
      name: 'session validate: Redis Cluster vs one node',
      unit: 'validate',
      oursLabel: 'SessionCache.validate on a 3-master + 3-replica Redis Cluster (ioredis Cluster)',
      baselineLabel: 'SessionCache.validate on one Redis node',
      goal: '≥ 0.9×',
      goalMinRatio: 0.9,
      shortfall: {
        reason:
          'the cost is the cluster itself, not SessionCache: six redis-server processes and the client share the machine’s two cores against one server, and the ioredis Cluster client routes each command by slot; the bare-GET profile row measures the same two setups without SessionCache',
        profiles: [PROFILE_ROW.clusterBareGet],
      },
      backend: 'redis-server 7.0 on loopback: 3 masters + 3 replicas (startRedisCluster) vs one private node',
      note: `${sessions.length.toLocaleString('en')} cached sessions; ${CONCURRENCY} concurrent callers each side`,
    };
    ctx.log(`  ${spec.name}`);
    const result = await runInterleaved(
      async () => {
        if ((await clusterCache.validate(a())).status !== 'hit') throw new Error('bench: cluster validate missed');
      },
      async () => {
        if ((await singleCache.validate(b())).status !== 'hit') throw new Error('bench: single-node validate missed');
      },
      { ...ctx.timing, concurrency: CONCURRENCY },
    );
    const bareGet = await measureBareGets(ctx, onCluster, single, sessions);
    await Promise.all([onCluster.stop(), single.stop()]);
    return [
      measuredRow(spec, result),
      measuredRow(
        {
          name: PROFILE_ROW.clusterBareGet,
          unit: 'GET',
          oursLabel: 'a bare GET of a cached session record through the platform’s ioredis Cluster client (3 masters + 3 replicas)',
          baselineLabel: 'the same GET through the one-node client',
          backend: spec.backend,
          note: `${CONCURRENCY} concurrent callers each side; no SessionCache code on either side`,
        },
        bareGet,
      ),
    ];
  }
}

/** A bare GET of each session's record key on the cluster and on the one node, through the platforms' own clients. */
async function measureBareGets(
  ctx: BenchContext,
  onCluster: Platform,
  single: Platform,
  sessions: ReadonlyArray<{ userId: string; sessionId: string }>,
): Promise<InterleavedResult> {
  const getter = (platform: Platform) => {
    const [client, keys] = [platform.resolve(RedisConnection).client, platform.resolve(RedisKeys)];
    const next = keyCycle(sessions.map((s) => keys.sessionRecord(s.userId, s.sessionId)));
    return async () => {
      if ((await client.get(next())) === null) throw new Error('bench: bare GET missed a cached session');
    };
  };
  ctx.log(`  ${PROFILE_ROW.clusterBareGet}`);
  return runInterleaved(getter(onCluster), getter(single), { ...ctx.timing, concurrency: CONCURRENCY });
}

/**
 * Scale-out row: user-by-email through PgBouncer (transaction pooling) vs
 * direct, when the machine has Debian's pgbouncer (else the row says so).
 */
export async function pgBouncerRow(ctx: BenchContext): Promise<BenchRow> {
  const spec: RowSpec = {
    name: 'user by email: through PgBouncer vs direct',
    unit: 'lookup',
    oursLabel: 'UserRepository.findCredentialsByEmail via PgBouncer 1.18, transaction pooling (unnamed statements)',
    baselineLabel: 'UserRepository.findCredentialsByEmail direct (named prepared statement)',
    backend: `PgBouncer 1.18 → ${ctx.backends.postgres}`,
    note: `informational: what the pooler hop and unnamed statements cost; ${POOL_CALLERS} callers each side, PgBouncer pool ${POOL_CALLERS}`,
  };
  if (!(await executable(PGBOUNCER_BINARY))) return unavailableRow(spec, `no ${PGBOUNCER_BINARY} on this machine (Debian package pgbouncer)`);
  {
    const server = new URL(ctx.db.appUrl).host;
    await using bouncer = await startPgBouncer({
      server,
      poolSize: POOL_CALLERS,
      binary: PGBOUNCER_BINARY,
      portRange: portRange('BENCH_PGBOUNCER_PORTS', [6501, 6502]),
    });
    const pooledUrl = new URL(ctx.db.appUrl);
    pooledUrl.host = bouncer.address;
    const pooled = await ctx.platformFor({ DATABASE_URL: ctx.db.ownerUrl, DATABASE_APP_URL: pooledUrl.toString(), PG_POOLER: 'transaction' }, ['postgres']);
    const [viaBouncer, direct] = [pooled.resolve(UserRepository), ctx.platform.resolve(UserRepository)];
    const emails = sampleIds(ctx.largeUsers, 20_000, 23).map(benchEmail);
    const [c, d] = [keyCycle(emails), keyCycle(emails)];
    ctx.log(`  ${spec.name}`);
    const result = await runInterleaved(
      async () => {
        if (!(await viaBouncer.findCredentialsByEmail(c()))) throw new Error('bench: user not found via PgBouncer');
      },
      async () => {
        if (!(await direct.findCredentialsByEmail(d()))) throw new Error('bench: user not found direct');
      },
      { ...ctx.timing, concurrency: POOL_CALLERS },
    );
    await pooled.stop();
    return measuredRow(spec, result);
  }
}
