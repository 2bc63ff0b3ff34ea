import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type { InjectionToken } from 'tsyringe';
import { describe, expect } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { bootstrapPlatform } from '../../../src/flows/bootstrap-platform.js';
import type { Embedder } from '../../../src/embedder.js';
import { HashingEmbedder } from '../../../src/flows/knowledge/hashing-embedder.js';
import { ingestionJobId } from '../../../src/flows/knowledge/ingestion-queue.js';
import { KnowledgeIngestion, type IngestDocumentResult } from '../../../src/flows/knowledge/knowledge-ingestion.js';
import { KnowledgeSearch } from '../../../src/flows/knowledge/knowledge-search.js';
import { LangchainTextSplitter } from '../../../src/flows/knowledge/langchain-text-splitter.js';
import { INGESTION_QUEUE } from '../../../src/flows/knowledge/ingestion-queue.js';
import { QdrantProvisioner } from '../../../src/qdrant/qdrant-provisioner.js';
import { KnowledgeChunkRepository } from '../../../src/mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository } from '../../../src/mongo/repositories/knowledge-document-repository.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import type { PlatformOptions } from '../../../src/platform-options.js';
import { EmbeddingIndex } from '../../../src/qdrant/repositories/embedding-index.js';
import { QdrantConnection } from '../../../src/qdrant/qdrant-connection.js';
import { JobQueues } from '../../../src/redis/job-queues.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { type TestEnv } from '../../support/test-env.js';
import { TEXT_SPLITTER } from '../../../src/tokens.js';
import { test } from '../../support/fixtures.js';

const DEMO_DIR = new URL('../../../docs/demo-knowledge/', import.meta.url);
const DEMO = readdirSync(DEMO_DIR)
  .filter((f) => f.endsWith('.md'))
  .map((f) => ({ source: `demo-knowledge/${f}`, title: f.replace(/\.md$/, ''), content: readFileSync(new URL(f, DEMO_DIR), 'utf8') }));

/**
 * Every worker in this file checks for stalled jobs often: BullMQ throttles the check queue-wide
 * for the interval of the worker that ran it last, so one default (30 s) worker would delay the crash test.
 */
const FAST_STALL_CHECK = { stalledIntervalMs: 300 } as const;

function tenant(organizationId: string = randomUUID()): TenantContext {
  return createTenantContext({ organizationId, userId: randomUUID(), role: 'admin', scopes: [] });
}

/** A platform on this file's stores, with a small splitter so the demo documents make several chunks each. */
function knowledgePlatform(t: TestEnv, options: PlatformOptions = {}): Platform {
  const platform = createPlatform(t.config, options);
  platform.container.register(TEXT_SPLITTER, { useValue: new LangchainTextSplitter({ chunkSize: 40, chunkOverlap: 8 }) });
  return platform;
}

describe('knowledge ingestion and semantic search', () => {
  let platform: Platform;
  let ingestion: KnowledgeIngestion;
  let search: KnowledgeSearch;
  let index: EmbeddingIndex;
  let chunks: KnowledgeChunkRepository;
  let documents: KnowledgeDocumentRepository;

  test.beforeAll(async ({ testEnv: t }) => {
    platform = knowledgePlatform(t);
    const results = await bootstrapPlatform(platform, { waitMs: 20_000 });
    expect(results.map((r) => `${r.store}:${r.status}${r.error ? ` ${r.error}` : ''}`).sort()).toEqual([
      'mongo:provisioned',
      'postgres:provisioned',
      'qdrant:provisioned',
      'redis:provisioned',
    ]);
    ingestion = platform.resolve(KnowledgeIngestion);
    search = platform.resolve(KnowledgeSearch);
    index = platform.resolve(EmbeddingIndex);
    chunks = platform.resolve(KnowledgeChunkRepository);
    documents = platform.resolve(KnowledgeDocumentRepository);
  });
  test.afterAll(async ({ testEnv: t }) => {
    await platform?.resolve(JobQueues).close();
    const redis = platform?.resolve(RedisConnection);
    const leftovers = await redis?.client.keys(`${t.config.redis.keyPrefix}*`);
    if (leftovers?.length) await redis?.client.del(...leftovers);
    await platform
      ?.resolve(QdrantConnection)
      .client.deleteCollection(index.collectionName)
      .catch(() => undefined);
    await platform?.stop();
  });

  /** Ingests, runs a worker until every new version is settled, and returns the results. */
  async function ingestAll(ctx: TenantContext, docs: ReadonlyArray<{ source: string; title: string; content: string }>): Promise<IngestDocumentResult[]> {
    const results: IngestDocumentResult[] = [];
    for (const d of docs) results.push(await ingestion.ingestDocument(ctx, d));
    const worker = await ingestion.startIngestionWorker({ ...FAST_STALL_CHECK, concurrency: 2 });
    try {
      const waited = await ingestion.waitForIndexing(
        ctx,
        results.map((r) => ({ id: r.document.id, version: r.document.version })),
        { timeoutMs: 25_000 },
      );
      expect(waited.unsettled.map((d) => `${d.source}:${d.status}:${d.error ?? ''}`)).toEqual([]);
      expect(waited.failed).toEqual([]);
    } finally {
      await worker.close();
    }
    return results;
  }

  test('bootstrap provisions Qdrant with the embedder dimension, and health reports it provisioned', async () => {
    const info = await platform.resolve(QdrantConnection).client.getCollection(index.collectionName);
    expect((info.config.params.vectors as { size: number }).size).toBe(256);
    const health = await platform.health();
    expect(health.stores.find((s) => s.store === 'qdrant')).toMatchObject({ status: 'up', provisioned: true, pending: [] });
  });

  test('ingests the demo documents and search finds the right passage, best first, with titles and scores', async () => {
    const ctx = tenant();
    const results = await ingestAll(ctx, DEMO);
    expect(results.every((r) => r.created && r.changed && r.jobId === ingestionJobId(r.document.id, 1))).toBe(true);
    const indexed = await documents.getMany(
      ctx,
      results.map((r) => r.document.id),
    );
    expect(indexed.every((d) => d.status === 'indexed' && d.chunkCount >= 2)).toBe(true);

    const hits = await search.semanticSearch(ctx, 'how many business days until a refund arrives?', { limit: 3 });
    expect(hits[0]).toMatchObject({ title: 'refund-policy' });
    expect(hits[0]?.text).toContain('five to ten business days');
    expect(hits.map((h) => h.score)).toEqual([...hits.map((h) => h.score)].sort((a, b) => b - a));

    const lockout = await search.semanticSearch(ctx, 'account locked after failed sign-in attempts', { limit: 1 });
    expect(lockout[0]?.title).toBe('security-practices');
    expect(lockout[0]?.text).toContain('locked for fifteen minutes');

    const onlyOnboarding = results.find((r) => r.document.source.endsWith('onboarding-guide.md'))!.document.id;
    const filtered = await search.semanticSearch(ctx, 'refund', { limit: 10, documentIds: [onlyOnboarding] });
    expect(filtered.length).toBeGreaterThan(0);
    expect(new Set(filtered.map((h) => h.documentId))).toEqual(new Set([onlyOnboarding]));
    expect(await search.semanticSearch(ctx, 'refund', { scoreThreshold: 0.99 })).toEqual([]);
  });

  test('re-ingesting the same content makes no version, no job and no new points; a new version leaves no old points or chunks', async () => {
    const ctx = tenant();
    const [first] = await ingestAll(ctx, [DEMO[0]!]);
    const id = first!.document.id;
    const before = await index.countByDocument(ctx, id);
    expect(before).toBe((await documents.get(ctx, id)).chunkCount);

    const again = await ingestion.ingestDocument(ctx, DEMO[0]!);
    expect(again).toMatchObject({ created: false, changed: false, jobId: undefined });
    expect(again.document.version).toBe(1);
    expect(await index.countByDocument(ctx, id)).toBe(before);

    const changed = {
      ...DEMO[0]!,
      content: `${DEMO[0]!.content}\n\nVersion two adds a paragraph about quarterly invoices and purchase orders for enterprise buyers.`,
    };
    const [second] = await ingestAll(ctx, [changed]);
    expect(second).toMatchObject({ created: false, changed: true, jobId: ingestionJobId(id, 2) });
    const doc = await documents.get(ctx, id);
    expect(doc).toMatchObject({ version: 2, status: 'indexed' });
    expect(await index.countByDocument(ctx, id, { version: 1 })).toBe(0);
    expect(await chunks.countByDocument(ctx, id, { version: 1 })).toBe(0);
    expect(await index.countByDocument(ctx, id, { version: 2 })).toBe(doc.chunkCount);
    expect(await chunks.countByDocument(ctx, id, { version: 2 })).toBe(doc.chunkCount);
    const hits = await search.semanticSearch(ctx, 'quarterly invoices purchase orders', { limit: 1 });
    expect(hits[0]?.text).toContain('quarterly invoices');
    expect(await ingestion.checkConsistency(ctx, id)).toMatchObject({ consistent: true });
  });

  test('a worker killed after the Qdrant upsert and before the chunks are saved: a new worker ends with exactly one copy of each chunk and point', async ({
    testEnv: t,
  }) => {
    const ctx = tenant();
    // A second process on the same stores whose chunk writes never return: it dies mid-job.
    const crashed = knowledgePlatform(t);
    await crashed.start();
    const realChunks = crashed.resolve(KnowledgeChunkRepository);
    let reachedChunks!: () => void;
    const reached = new Promise<void>((r) => (reachedChunks = r));
    crashed.container.register(KnowledgeChunkRepository, {
      useValue: new Proxy(realChunks, {
        get(target, prop) {
          if (prop === 'replaceForDocument') {
            return () => {
              reachedChunks();
              return new Promise(() => undefined);
            };
          }
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }),
    });
    const crashedIngestion = crashed.resolve(KnowledgeIngestion);
    const { document, jobId } = await crashedIngestion.ingestDocument(ctx, DEMO[1]!);
    // A short lock, so the job is up for grabs soon after the worker dies.
    const dying = await crashedIngestion.startIngestionWorker({ ...FAST_STALL_CHECK, lockDurationMs: 1_000 });
    await reached;
    const pointsWritten = await index.countByDocument(ctx, document.id);
    expect(pointsWritten).toBeGreaterThan(1);
    expect(await chunks.countByDocument(ctx, document.id)).toBe(0);
    expect((await documents.get(ctx, document.id)).status).toBe('indexing');
    await dying.close(true);
    await crashed.stop();

    // The job is still "active" with a lock nobody renews; a new worker's stalled check hands it back.
    const worker = await ingestion.startIngestionWorker({ ...FAST_STALL_CHECK, lockDurationMs: 5_000 });
    try {
      const waited = await ingestion.waitForIndexing(ctx, [{ id: document.id, version: 1 }], { timeoutMs: 20_000 });
      expect(waited.indexed.map((d) => d.id)).toEqual([document.id]);
    } finally {
      await worker.close();
    }
    const doc = await documents.get(ctx, document.id);
    expect(doc.chunkCount).toBe(pointsWritten);
    expect(await index.countByDocument(ctx, document.id)).toBe(doc.chunkCount);
    expect(await chunks.countByDocument(ctx, document.id)).toBe(doc.chunkCount);
    const report = await ingestion.checkConsistency(ctx, document.id);
    expect(report.documents[0]).toMatchObject({ consistent: true, mongoChunks: doc.chunkCount, qdrantPoints: doc.chunkCount });
    expect(jobId).toBe(ingestionJobId(document.id, 1));
  });

  /** Runs one version's job in this process, outside BullMQ: the tests below need to choose exactly when each step happens. */
  function runJob(on: KnowledgeIngestion, organizationId: string, documentId: string, version: number): Promise<void> {
    return on.processIngestionJob({
      queue: 'ingestion',
      jobId: `${documentId}-v${version}-direct`,
      data: { organizationId, documentId, version },
      attempt: 1,
      maxAttempts: 1,
      signal: undefined,
    });
  }

  /**
   * A platform on the same stores whose `method` of `token`'s instance stops at call number `callNo`
   * (after the real call returned, or before it when `before`) until `release()` is called.
   */
  function pausedPlatform<T extends object>(
    t: TestEnv,
    token: InjectionToken<T>,
    method: keyof T & string,
    callNo: number,
    when: 'before' | 'after',
  ): { platform: Platform; reached: Promise<void>; release: () => void } {
    const p = knowledgePlatform(t);
    let onReached!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (onReached = r));
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const real = p.resolve(token);
    p.container.register(token, {
      useValue: new Proxy(real, {
        get(target, prop) {
          const value: unknown = Reflect.get(target, prop, target);
          if (typeof value !== 'function') return value;
          const fn = (value as (...a: unknown[]) => Promise<unknown>).bind(target);
          if (prop !== method) return fn;
          return async (...args: unknown[]) => {
            const n = ++calls;
            if (n === callNo && when === 'before') {
              onReached();
              await gate;
            }
            const result = await fn(...args);
            if (n === callNo && when === 'after') {
              onReached();
              await gate;
            }
            return result;
          };
        },
      }),
    });
    return { platform: p, reached, release };
  }

  const KEEPER =
    'The lighthouse keeper logs every passing ship, its flag, its heading and the weather at the time. The log is read by the harbour master every Monday morning. Storms are recorded separately, with wind speed and the height of the waves at the pier. ';
  const V1 = `${KEEPER}Version one talks about the old brass telescope and the paper logbook kept in the lamp room.`;
  const V2 = `${KEEPER}Version two replaces the telescope with radar and a digital log that the harbour office reads live.`;

  test('a slow version-1 worker that read the document before version 2 existed never deletes version 2 (v2 processed fully, then v1 cleans up)', async ({
    testEnv: t,
  }) => {
    const ctx = tenant();
    // Version 1's worker stops right after its cleanup read the document (still at version 1): the read is stale from here on.
    // `get` call 2 is that read (call 1 is the job's check for a stale job).
    const slow = pausedPlatform(t, KnowledgeDocumentRepository, 'get', 2, 'after');
    await slow.platform.start();
    try {
      const { document } = await documents.upsert(ctx, { source: 'race.md', title: 'Race', content: V1 });
      const v1Run = runJob(slow.platform.resolve(KnowledgeIngestion), ctx.organizationId, document.id, 1);
      await slow.reached;
      expect(await index.countByDocument(ctx, document.id, { version: 1 })).toBeGreaterThan(0);

      // Version 2 arrives and is indexed completely while version 1 waits.
      expect((await documents.upsert(ctx, { source: 'race.md', title: 'Race', content: V2 })).document.version).toBe(2);
      await runJob(ingestion, ctx.organizationId, document.id, 2);
      const v2 = await documents.get(ctx, document.id);
      expect(v2).toMatchObject({ version: 2, status: 'indexed' });
      expect(v2.chunkCount).toBeGreaterThan(1);

      // Now version 1's cleanup runs.
      slow.release();
      const v1Outcome = await v1Run.then(
        () => 'done',
        (error: unknown) => error,
      );
      expect(await index.countByDocument(ctx, document.id, { version: 2 })).toBe(v2.chunkCount);
      expect(await chunks.countByDocument(ctx, document.id, { version: 2 })).toBe(v2.chunkCount);
      expect(await index.countByDocument(ctx, document.id, { version: 1 })).toBe(0);
      expect(await chunks.countByDocument(ctx, document.id, { version: 1 })).toBe(0);
      expect(await documents.get(ctx, document.id)).toMatchObject({ version: 2, status: 'indexed', chunkCount: v2.chunkCount });
      expect(await ingestion.checkConsistency(ctx, document.id)).toMatchObject({ consistent: true });
      expect((await search.semanticSearch(ctx, 'radar digital log', { limit: 1 }))[0]?.text).toContain('radar');
      // Superseded, not failed: version 1's job has nothing left to do and must not be retried.
      expect(v1Outcome).toBe('done');
    } finally {
      slow.release();
      await slow.platform.stop();
    }
  });

  test('a version-1 worker whose writes land after version 2 was indexed removes its own points and chunks, and only those', async ({ testEnv: t }) => {
    const ctx = tenant();
    // Version 1's worker stops before its first Qdrant upsert.
    const slow = pausedPlatform(t, EmbeddingIndex, 'upsert', 1, 'before');
    await slow.platform.start();
    try {
      const { document } = await documents.upsert(ctx, { source: 'late.md', title: 'Late', content: V1 });
      const v1Run = runJob(slow.platform.resolve(KnowledgeIngestion), ctx.organizationId, document.id, 1);
      await slow.reached;
      await documents.upsert(ctx, { source: 'late.md', title: 'Late', content: V2 });
      await runJob(ingestion, ctx.organizationId, document.id, 2);
      const v2 = await documents.get(ctx, document.id);
      expect(v2).toMatchObject({ version: 2, status: 'indexed' });

      slow.release();
      await v1Run;
      expect(await index.countByDocument(ctx, document.id, { version: 1 })).toBe(0);
      expect(await chunks.countByDocument(ctx, document.id, { version: 1 })).toBe(0);
      expect(await index.countByDocument(ctx, document.id, { version: 2 })).toBe(v2.chunkCount);
      expect(await chunks.countByDocument(ctx, document.id, { version: 2 })).toBe(v2.chunkCount);
      expect(await documents.get(ctx, document.id)).toMatchObject({ version: 2, status: 'indexed' });
      expect(await ingestion.checkConsistency(ctx, document.id)).toMatchObject({ consistent: true });
    } finally {
      slow.release();
      await slow.platform.stop();
    }
  });

  test('a reindex of the same version with fewer chunks leaves no stale ordinals, and the document never has zero points or chunks meanwhile', async ({
    testEnv: t,
  }) => {
    const ctx = tenant();
    const [r] = await ingestAll(ctx, [DEMO[0]!]);
    const id = r!.document.id;
    const before = (await documents.get(ctx, id)).chunkCount;

    // Same stores, a coarser splitter; every call the pipeline makes to Qdrant or the chunks is followed by a count of both.
    const coarse = createPlatform(t.config);
    coarse.container.register(TEXT_SPLITTER, { useValue: new LangchainTextSplitter({ chunkSize: 160, chunkOverlap: 8 }) });
    const seen: Array<{ call: string; points: number; chunks: number }> = [];
    const observe = <T extends object>(token: InjectionToken<T>, name: string): void => {
      const real = coarse.resolve(token);
      coarse.container.register(token, {
        useValue: new Proxy(real, {
          get(target, prop) {
            const value: unknown = Reflect.get(target, prop, target);
            if (typeof value !== 'function') return value;
            const fn = (value as (...a: unknown[]) => unknown).bind(target);
            return async (...args: unknown[]) => {
              const result = await fn(...args);
              seen.push({ call: `${name}.${String(prop)}`, points: await index.countByDocument(ctx, id), chunks: await chunks.countByDocument(ctx, id) });
              return result;
            };
          },
        }),
      });
    };
    observe(EmbeddingIndex, 'EmbeddingIndex');
    observe(KnowledgeChunkRepository, 'KnowledgeChunkRepository');
    await coarse.start();
    try {
      const coarseIngestion = coarse.resolve(KnowledgeIngestion);
      const run = await coarseIngestion.reindex(ctx, 'coarser');
      const worker = await coarseIngestion.startIngestionWorker(FAST_STALL_CHECK);
      try {
        expect((await coarseIngestion.waitForIndexing(ctx, run.documents, { timeoutMs: 20_000 })).indexed).toHaveLength(1);
      } finally {
        await worker.close();
      }
    } finally {
      await coarse.stop();
    }
    const after = await documents.get(ctx, id);
    expect(after).toMatchObject({ version: 1, status: 'indexed' });
    expect(after.chunkCount).toBeLessThan(before);
    expect(after.chunkCount).toBeGreaterThan(0);
    // Ordinals 0 … n-1 have one deterministic id each: a count of n means nothing past the new end survived.
    expect(await index.countByDocument(ctx, id, { version: 1 })).toBe(after.chunkCount);
    expect(await chunks.countByDocument(ctx, id, { version: 1 })).toBe(after.chunkCount);
    expect(await ingestion.checkConsistency(ctx, id)).toMatchObject({ consistent: true });
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.filter((s) => s.points === 0 || s.chunks === 0)).toEqual([]);
  });

  test("a search for organization A never returns organization B's chunks", async () => {
    const a = tenant();
    const b = tenant();
    const secret = { source: 'b/secret.md', title: 'B only', content: 'Project Nightingale launch codes are stored in the blue vault under the harbour.' };
    await ingestAll(b, [secret]);
    await ingestAll(a, [
      { source: 'a/notes.md', title: 'A notes', content: 'Our harbour office opens at nine; the blue meeting room is on the second floor.' },
    ]);
    const fromB = await search.semanticSearch(b, secret.content, { limit: 10 });
    expect(fromB[0]?.title).toBe('B only');
    const fromA = await search.semanticSearch(a, secret.content, { limit: 100 });
    expect(fromA.length).toBeGreaterThan(0);
    expect(fromA.every((h) => h.title === 'A notes')).toBe(true);
    // Even naming B's document explicitly does not cross the boundary.
    expect(await search.semanticSearch(a, secret.content, { documentIds: [fromB[0]!.documentId] })).toEqual([]);
  });

  test('the reconciler re-enqueues a document stuck in pending (its job lost), and JobQueues.reconcile runs it', async () => {
    const ctx = tenant();
    // Stored but never enqueued: what a lost job (Redis flush, crash before enqueue) leaves behind.
    const { document } = await documents.upsert(ctx, {
      source: 'stuck.md',
      title: 'Stuck',
      content: 'A stuck document about the lighthouse keeper and his telescope.',
    });
    expect((await ingestion.reconcileKnowledge([ctx.organizationId], { stuckAfterMs: 60_000 })).enqueued).toEqual([]);
    const result = await ingestion.reconcileKnowledge(async () => [ctx.organizationId], { stuckAfterMs: 0 });
    expect(result.organizations).toBe(1);
    expect(result.enqueued).toEqual([
      expect.objectContaining({
        organizationId: ctx.organizationId,
        documentId: document.id,
        version: 1,
        status: 'pending',
        jobId: expect.stringMatching(new RegExp(`^${document.id}-v1-s`)),
      }),
    ]);
    const queues = platform.resolve(JobQueues);
    ingestion.registerReconciler([ctx.organizationId], { stuckAfterMs: 0 });
    // Same durable state, same job id: BullMQ keeps one job.
    expect(await queues.reconcile(INGESTION_QUEUE)).toEqual({ ingestion: 1 });
    const worker = await ingestion.startIngestionWorker(FAST_STALL_CHECK);
    try {
      const waited = await ingestion.waitForIndexing(ctx, [{ id: document.id, version: 1 }], { timeoutMs: 20_000 });
      expect(waited.indexed).toHaveLength(1);
    } finally {
      await worker.close();
    }
    expect((await search.semanticSearch(ctx, 'lighthouse telescope', { limit: 1 }))[0]?.title).toBe('Stuck');
  });

  test('reindex re-indexes every document of the organization under a new job id', async () => {
    const ctx = tenant();
    const [r] = await ingestAll(ctx, [DEMO[2]!]);
    const run = await ingestion.reindex(ctx, 'test1');
    expect(run.documents).toEqual([{ id: r!.document.id, version: 1, jobId: ingestionJobId(r!.document.id, 1, 'rtest1') }]);
    expect((await documents.get(ctx, r!.document.id)).status).toBe('pending');
    const worker = await ingestion.startIngestionWorker(FAST_STALL_CHECK);
    try {
      expect((await ingestion.waitForIndexing(ctx, run.documents, { timeoutMs: 20_000 })).indexed).toHaveLength(1);
    } finally {
      await worker.close();
    }
    expect((await ingestion.checkConsistency(ctx)).consistent).toBe(true);
  });

  test('the consistency check reports a document whose points went missing', async () => {
    const ctx = tenant();
    const [r] = await ingestAll(ctx, [DEMO[3]!]);
    expect(await ingestion.checkConsistency(ctx)).toMatchObject({
      consistent: true,
      documents: [expect.objectContaining({ documentId: r!.document.id, consistent: true })],
    });
    await index.deleteByDocument(ctx, r!.document.id);
    const report = await ingestion.checkConsistency(ctx);
    expect(report.consistent).toBe(false);
    expect(report.documents[0]).toMatchObject({ qdrantPoints: 0, consistent: false, problem: expect.stringContaining('0 points in Qdrant') });
  });

  test('a failing embedder marks the document failed with a redacted reason, and the retry indexes it', async ({ testEnv: t }) => {
    let calls = 0;
    const inner = new HashingEmbedder();
    const flaky: Embedder = {
      dimension: 256,
      embed: async (texts) => {
        if (calls++ === 0) throw new Error('upstream 503 for https://user:hunter2@embeddings.example/v1 api_key=sk-live-123');
        return inner.embed(texts);
      },
    };
    const p = knowledgePlatform(t, { embedder: flaky });
    await p.start();
    try {
      const flakyIngestion = p.resolve(KnowledgeIngestion);
      const ctx = tenant();
      const { document } = await flakyIngestion.ingestDocument(ctx, {
        source: 'flaky.md',
        title: 'Flaky',
        content: 'Embeddings sometimes fail on the first try.',
      });
      const worker = await flakyIngestion.startIngestionWorker(FAST_STALL_CHECK);
      try {
        const deadline = Date.now() + 10_000;
        let failed = await p.resolve(KnowledgeDocumentRepository).get(ctx, document.id);
        while (failed.status !== 'failed' && failed.status !== 'indexed' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
          failed = await p.resolve(KnowledgeDocumentRepository).get(ctx, document.id);
        }
        expect(failed.status).toBe('failed');
        expect(failed.error).toContain('upstream 503');
        expect(failed.error).toContain('attempt 1 of 5');
        expect(failed.error).not.toContain('hunter2');
        expect(failed.error).not.toContain('sk-live-123');
        const waited = await flakyIngestion.waitForIndexing(ctx, [{ id: document.id, version: 1 }], { timeoutMs: 20_000 });
        expect(waited.indexed.map((d) => d.error)).toEqual([null]);
      } finally {
        await worker.close();
      }
    } finally {
      await p.stop();
    }
  });

  test('an embedder of another dimension is refused by the provisioner with a ConfigError, never mixed in', async ({ testEnv: t }) => {
    const p = createPlatform(t.config, { stores: ['qdrant'], embedder: new HashingEmbedder({ dimension: 64 }) });
    await p.start();
    try {
      const provisioner = p.resolve(QdrantProvisioner);
      await expect(provisioner.provision()).rejects.toBeInstanceOf(ConfigError);
      expect(await provisioner.pending()).toEqual([expect.stringContaining('vector size 256, embedder has 64')]);
      const [result] = await bootstrapPlatform(p, { waitMs: 5_000 });
      expect(result).toMatchObject({ store: 'qdrant', status: 'failed', error: expect.stringContaining('re-create the collection and reindex') });
    } finally {
      await p.stop();
    }
  });
});
