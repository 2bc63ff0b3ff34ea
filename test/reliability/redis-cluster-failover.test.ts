import 'reflect-metadata';
import calculateSlot from 'cluster-key-slot';
import { Cluster as ClusterClient, Redis, type Cluster } from 'ioredis';
import { describe, expect } from 'vitest';
import { StoreUnavailableError, TokenError } from '../../src/errors.js';
import { expectSignedIn } from '../../src/flows/auth/expect-signed-in.js';
import { JobQueues } from '../../src/redis/job-queues.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { startRedisCluster } from '../../src/testing/start-redis-cluster.js';
import { INGESTION_QUEUE } from '../../src/flows/knowledge/ingestion-queue.js';
import { PASSWORD } from '../support/auth-fixtures.js';
import { sleep } from '../support/sleep.js';
import { requireStores } from '../support/require-stores.js';
import { test as base } from '../support/fixtures.js';
import type { FlowHarness } from '../support/flow-harness.js';

const client = { ip: '203.0.113.50', userAgent: 'vitest failover' };

/** `host:port` of the master serving `key`'s slot, as the cluster client's slot table says. */
function masterOf(redis: Cluster, key: string): string {
  const owner = redis.slots[calculateSlot(key)]?.[0];
  if (!owner) throw new Error(`no master known for ${key}`);
  return owner;
}

/** Replication offsets of `master` and its replica: equal once every write the master acknowledged has reached the replica. */
async function replicated(master: string): Promise<boolean> {
  const [host, port] = master.split(':');
  const direct = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await direct.connect();
    const info = await direct.info('replication');
    const masterOffset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1]);
    const replicaOffsets = [...info.matchAll(/slave\d+:.*offset=(\d+)/g)].map((m) => Number(m[1]));
    return replicaOffsets.length > 0 && replicaOffsets.every((o) => o >= masterOffset);
  } finally {
    direct.disconnect();
  }
}

// Its own cluster (not the redis-cluster project's): killing a master must not disturb other files.
// oxlint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern; empty: none
const test = base.extend('cluster', { scope: 'file' }, async ({}, { onCleanup }) => {
  // cluster-node-timeout 2 s: the replica is promoted about 2-4 s after its master stops answering (Redis Cluster spec, "Replica election").
  const cluster = await startRedisCluster({ nodeTimeoutMs: 2_000 });
  onCleanup(() => cluster.stop());
  return cluster;
});
test.override('envOverrides', ({ cluster }) => ({
  REDIS_CLUSTER_NODES: cluster.clusterNodesEnv,
  REDIS_COMMAND_TIMEOUT_MS: '500',
  REDIS_BREAKER_FAILURE_THRESHOLD: '2',
  REDIS_BREAKER_COOLDOWN_MS: '500',
}));

describe.skipIf(!requireStores('postgres', 'redis'))('Redis Cluster: a master killed mid-traffic', () => {
  test('the replica takes over; validations keep answering (PostgreSQL fallback), no revoked session is accepted, no queued job is lost', async ({
    flow: h,
    cluster,
  }) => {
    const redis = h.platform.resolve(RedisConnection).client as Cluster;
    const keys = h.platform.resolve(RedisKeys);
    const queues = h.platform.resolve(JobQueues);
    expect(redis).toBeInstanceOf(ClusterClient);

    // The victim: the master holding the ingestion queue's slot. Users until some of them live on it too.
    const victim = masterOf(redis, `${keys.queuePrefix('ingestion')}:ingestion:wait`);
    const onVictim: Array<Awaited<ReturnType<FlowHarness['user']>>> = [];
    for (let i = 0; i < 40 && onVictim.length < 3; i++) {
      const u = await h.user();
      if (masterOf(redis, keys.sessionEpoch(u.userId)) === victim) onVictim.push(u);
    }
    expect(onVictim.length).toBe(3);
    const [liveUser, loggedOutUser, everywhereUser] = onVictim as [(typeof onVictim)[0], (typeof onVictim)[0], (typeof onVictim)[0]];
    const live = expectSignedIn(await h.signIn.login(liveUser.email, PASSWORD, client));
    const loggedOut = expectSignedIn(await h.signIn.login(loggedOutUser.email, PASSWORD, client));
    const revokedDuring = expectSignedIn(await h.signIn.login(everywhereUser.email, PASSWORD, client));
    await h.revoker.logout(loggedOut.sessionId);
    expect((await h.validator.validate({ userId: live.user.id, sessionId: live.sessionId })).source).toBe('cache');

    // Jobs acknowledged and replicated before the failure.
    const before = Array.from({ length: 20 }, (_, i) => `pre-${i}`);
    for (const id of before) await queues.enqueue(INGESTION_QUEUE, { organizationId: liveUser.organizationId, documentId: id, version: 1 }, { jobId: id });
    const deadline = Date.now() + 10_000;
    while (!(await replicated(victim))) {
      if (Date.now() > deadline) throw new Error(`the replica of ${victim} did not catch up within 10 s`);
      await sleep(50);
    }

    // Traffic: validations of the three sessions and enqueues, without pause, while the master dies.
    let running = true;
    let revokedAfter = Number.POSITIVE_INFINITY;
    const outcomes = { liveOk: 0, liveFailed: [] as unknown[], fromPostgres: 0, revokedAccepted: [] as string[], enqueued: [] as string[], enqueueRefused: 0 };
    const validations = (async () => {
      while (running) {
        const t = Date.now();
        await h.validator.validate({ userId: live.user.id, sessionId: live.sessionId }).then(
          (v) => {
            outcomes.liveOk++;
            if (v.source === 'postgres') outcomes.fromPostgres++;
          },
          (error: unknown) => outcomes.liveFailed.push(error),
        );
        for (const [s, since] of [
          [loggedOut, 0],
          [revokedDuring, revokedAfter],
        ] as const) {
          const started = Date.now();
          const accepted = await h.validator.validate({ userId: s.user.id, sessionId: s.sessionId }).then(
            () => true,
            (error: unknown) => !(error instanceof TokenError),
          );
          // A validation that started after the revoke returned must refuse (one racing the revoke may go either way).
          if (accepted && started > since) outcomes.revokedAccepted.push(`${s.sessionId} at +${started - t} ms`);
        }
        await sleep(5);
      }
    })();
    let n = 0;
    const enqueues = (async () => {
      while (running) {
        const id = `during-${n++}`;
        await queues.enqueue(INGESTION_QUEUE, { organizationId: liveUser.organizationId, documentId: id, version: 1 }, { jobId: id }).then(
          () => outcomes.enqueued.push(id),
          (error: unknown) => {
            // Refused to the caller (typed): the caller still holds it; the reconciler re-creates it from durable state.
            expect(error).toBeInstanceOf(StoreUnavailableError);
            outcomes.enqueueRefused++;
          },
        );
        await sleep(20);
      }
    })();

    await sleep(300);
    const killedAt = performance.now();
    await cluster.killNode(victim);
    // Revoked while the slot has no master: PostgreSQL commits; the Redis half is replayed when Redis answers again.
    await sleep(500);
    await h.revoker.logoutEverywhere(everywhereUser.userId);
    revokedAfter = Date.now();
    await cluster.waitHealthy(30_000);
    const failoverMs = performance.now() - killedAt;
    expect(await cluster.masters()).not.toContain(victim);
    // Traffic goes on past the promotion until the breaker has closed again.
    await sleep(2_000);
    running = false;
    await Promise.all([validations, enqueues]);

    expect(outcomes.liveFailed).toEqual([]);
    expect(outcomes.liveOk).toBeGreaterThan(10);
    expect(outcomes.fromPostgres).toBeGreaterThan(0);
    expect(outcomes.revokedAccepted).toEqual([]);
    // After the failover the cache answers again, and still refuses the revoked sessions.
    let source = '';
    for (let i = 0; i < 50 && source !== 'cache'; i++) {
      source = (await h.validator.validate({ userId: live.user.id, sessionId: live.sessionId })).source;
      if (source !== 'cache') await sleep(100);
    }
    expect(source).toBe('cache');
    for (const s of [loggedOut, revokedDuring])
      await expect(h.validator.validate({ userId: s.user.id, sessionId: s.sessionId })).rejects.toBeInstanceOf(TokenError);

    // Jobs: every replicated one survived in Redis; the rest come back from the durable list through the reconciler.
    const survived = new Set<string>();
    // BullMQ keeps a job as the hash `<prefix>:<queue>:<jobId>`.
    for (const id of [...before, ...outcomes.enqueued]) if ((await redis.exists(`${keys.queuePrefix('ingestion')}:ingestion:${id}`)) === 1) survived.add(id);
    for (const id of before) expect(survived.has(id), `job ${id} lost`).toBe(true);
    const durable = [...before, ...outcomes.enqueued];
    queues.registerReconciler(INGESTION_QUEUE, async (enqueue) => {
      for (const id of durable) await enqueue({ organizationId: liveUser.organizationId, documentId: id, version: 1 }, id);
    });
    await queues.reconcile(INGESTION_QUEUE);
    const processed = new Set<string>();
    const worker = await queues.startWorker(INGESTION_QUEUE, async (job) => void processed.add(job.jobId), { concurrency: 4 });
    const until = Date.now() + 30_000;
    while (durable.some((id) => !processed.has(id)) && Date.now() < until) await sleep(100);
    await worker.close();
    expect(durable.filter((id) => !processed.has(id))).toEqual([]);

    process.stderr.write(
      `[failover] master ${victim} killed; replica promoted and cluster ok after ${failoverMs.toFixed(0)} ms; ` +
        `${outcomes.liveOk} live validations (${outcomes.fromPostgres} from PostgreSQL), 0 failed, 0 revoked accepted; ` +
        `jobs: ${before.length} pre-failure all survived, ${outcomes.enqueued.length} enqueued during (${survived.size - before.length} survived in Redis), ${outcomes.enqueueRefused} refused to the caller; all ${durable.length} processed after reconcile\n`,
    );
  });
});
