import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';
import { ValidationError } from '../../../src/errors.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { checkRedisForQueues } from '../../../src/redis/check-redis-for-queues.js';
import { JobQueues, defineQueue, type JobContext } from '../../../src/redis/job-queues.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { deleteKeys, listKeys } from '../../support/redis-admin.js';

let platform: Platform;
let queues: JobQueues;
let redis: RedisConnection;

test.beforeAll(async ({ testEnv: env }) => {
  platform = createPlatform(env.config, { stores: ['redis'] });
  await platform.start();
  queues = platform.resolve(JobQueues);
  redis = platform.resolve(RedisConnection);
});
test.afterAll(async () => {
  // Queue keys have no TTL by design: remove this file's keys from the shared Redis.
  await queues?.close();
  if (redis) await deleteKeys(redis.client, `${platform.config.redis.keyPrefix}*`);
  await platform?.stop();
});

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

// The store knows no job kind: these queues are this test's own, as the flows define theirs.
interface DocumentJob {
  readonly organizationId: string;
  readonly documentId: string;
  readonly version: number;
}
const documentsQueue = defineQueue<DocumentJob>('documents');
const requestsQueue = defineQueue<{ readonly organizationId: string; readonly requestId: string }>('requests');

const runs = (name: string) => `${platform.config.redis.keyPrefix}test:${name}`;

describe('JobQueues', () => {
  test('runs a job enqueued twice with the same id once; keys carry the queue hash tag', async () => {
    const key = runs('dedup');
    const first = await queues.enqueue(documentsQueue, { organizationId: 'o1', documentId: 'd1', version: 1 }, { jobId: 'd1-v1' });
    const second = await queues.enqueue(documentsQueue, { organizationId: 'o1', documentId: 'd1', version: 1 }, { jobId: 'd1-v1' });
    expect(second).toBe(first);
    const worker = await queues.startWorker(documentsQueue, async (job: JobContext<DocumentJob>) => {
      await redis.client.rpush(key, `${job.jobId}:${job.data.documentId}`);
    });
    await until(async () => (await queues.counts(documentsQueue)).completed === 1);
    await queues.enqueue(documentsQueue, { organizationId: 'o1', documentId: 'd1', version: 1 }, { jobId: 'd1-v1' });
    await new Promise((r) => setTimeout(r, 200));
    await worker.close();
    expect(await redis.client.lrange(key, 0, -1)).toEqual(['d1-v1:d1']);
    const queueKeys = await listKeys(redis.client, `${platform.config.redis.keyPrefix}{q:documents}:documents:*`);
    expect(queueKeys.length).toBeGreaterThan(0);
  });

  test('rejects a queue name that cannot sit in a hash tag', () => {
    for (const name of ['', 'a:b', 'a}b', 'x'.repeat(65)]) expect(() => defineQueue(name)).toThrow(ValidationError);
  });

  test('rejects job ids BullMQ cannot store', async () => {
    await expect(queues.enqueue(requestsQueue, { organizationId: 'o', requestId: 'r' }, { jobId: 'a:b' })).rejects.toBeInstanceOf(ValidationError);
  });

  test('a job survives a worker restart mid-flight and completes exactly once', async () => {
    const started = runs('restart-started');
    const completed = runs('restart-completed');
    const hang = new Promise<void>(() => undefined);
    const first = await queues.startWorker(
      requestsQueue,
      async (job) => {
        await redis.client.incr(started);
        if (job.attempt === 1) await hang; // the process "dies" mid-job
        await redis.client.sadd(completed, job.jobId);
      },
      { lockDurationMs: 1_000, stalledIntervalMs: 500 },
    );
    await queues.enqueue(requestsQueue, { organizationId: 'o1', requestId: 'req-1' }, { jobId: 'erasure-req-1' });
    await until(async () => Number(await redis.client.get(started)) === 1);
    await first.close(true);

    const finishedBy: string[] = [];
    const second = await queues.startWorker(
      requestsQueue,
      async (job) => {
        await redis.client.incr(started);
        await redis.client.sadd(completed, job.jobId);
        finishedBy.push(job.jobId);
      },
      { lockDurationMs: 1_000, stalledIntervalMs: 500 },
    );
    await until(async () => (await queues.counts(requestsQueue)).completed === 1, 15_000);
    await new Promise((r) => setTimeout(r, 600));
    await second.close();
    expect(finishedBy).toEqual(['erasure-req-1']);
    expect(await redis.client.smembers(completed)).toEqual(['erasure-req-1']);
    expect(Number(await redis.client.get(started))).toBe(2);
  });

  test('retries with exponential backoff, then lists the job as dead-lettered; retryFailed runs it again', async () => {
    const attempts: number[] = [];
    let healthy = false;
    const worker = await queues.startWorker(documentsQueue, async (job) => {
      attempts.push(Date.now());
      if (!healthy) throw new Error(`embedder down (attempt ${job.attempt}/${job.maxAttempts})`);
    });
    await queues.enqueue(documentsQueue, { organizationId: 'o1', documentId: 'd9', version: 3 }, { jobId: 'd9-v3', attempts: 3, backoffMs: 100 });
    await until(async () => (await queues.failedJobs(documentsQueue)).some((j) => j.jobId === 'd9-v3'));
    expect(attempts).toHaveLength(3);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? t));
    expect(gaps[0]).toBeGreaterThanOrEqual(90); // 100 ms
    expect(gaps[1]).toBeGreaterThanOrEqual(190); // 200 ms
    const [dead] = (await queues.failedJobs(documentsQueue)).filter((j) => j.jobId === 'd9-v3');
    expect(dead).toMatchObject({ attemptsMade: 3, data: { documentId: 'd9', version: 3 } });
    expect(dead?.failedReason).toContain('attempt 3/3');

    healthy = true;
    expect(await queues.retryFailed(documentsQueue, ['d9-v3'])).toBe(1);
    await until(async () => (await queues.failedJobs(documentsQueue)).length === 0);
    await until(async () => attempts.length === 4);
    await worker.close();
  });

  test('reconcile re-creates jobs from durable state with the same ids', async () => {
    const durable = [
      { organizationId: 'o2', requestId: 'r1' },
      { organizationId: 'o2', requestId: 'r2' },
    ];
    queues.registerReconciler(requestsQueue, async (enqueue) => {
      for (const row of durable) await enqueue(row, `erasure-${row.requestId}`);
    });
    expect(await queues.reconcile(requestsQueue)).toEqual({ requests: 2 });
    expect(await queues.reconcile(requestsQueue)).toEqual({ requests: 2 });
    const counts = await queues.counts(requestsQueue);
    expect((counts.waiting ?? 0) + (counts.prioritized ?? 0)).toBe(2);
  });

  test('checkRedisForQueues reports the eviction policy', async () => {
    const readiness = await checkRedisForQueues(redis);
    expect(readiness.version).toMatch(/^\d+\.\d+/);
    expect(readiness.ok).toBe(readiness.maxmemoryPolicy === 'noeviction');
    if (!readiness.ok) expect(readiness.warnings.join(' ')).toContain('noeviction');
  });
});
