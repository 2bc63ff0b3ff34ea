import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootstrapPlatform } from '../../src/flows/bootstrap-platform.js';
import { KnowledgeIngestion } from '../../src/flows/knowledge/knowledge-ingestion.js';
import { KnowledgeSearch } from '../../src/flows/knowledge/knowledge-search.js';
import { EmbeddingIndex } from '../../src/qdrant/repositories/embedding-index.js';
import { KnowledgeChunkRepository, knowledgeChunkId } from '../../src/mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository } from '../../src/mongo/repositories/knowledge-document-repository.js';
import { QdrantConnection } from '../../src/qdrant/qdrant-connection.js';
import { JobQueues } from '../../src/redis/job-queues.js';
import { createTenantContext } from '../../src/tenancy/tenant-context.js';
import { EMBEDDER } from '../../src/tokens.js';
import type { Embedder } from '../../src/embedder.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, unavailableRow, type RowSpec } from '../bench-row.js';
import { keyCycle, type BenchContext } from '../bench-context.js';
import { repoRoot } from '../repo-root.js';
import { startStandInProcess, type StandInProcess } from '../start-stand-in-process.js';
import { runInterleaved } from '../interleaved-runner.js';
import { PROFILE_ROW } from './profile-row-names.js';

const QUERIES = [
  'how many business days until a refund arrives?',
  'account locked after failed sign-in attempts',
  'quarterly invoices purchase orders',
  'how do I invite a teammate to my organization?',
  'export my data',
  'reset my password',
];

/**
 * Semantic search end to end (validate, embed the query, Qdrant with the organization filter, hydrate
 * chunk texts and titles from MongoDB) vs the Qdrant query alone with a precomputed vector, p50; then,
 * in the same setup, profile rows that give each stage's share of that p50 (embed + Qdrant, and the
 * MongoDB hydration alone, each against the same Qdrant query).
 * The demo knowledge (docs/demo-knowledge) is ingested through the real pipeline first.
 */
export async function semanticSearchRows(ctx: BenchContext, runId: string, mongoUrl: string | undefined): Promise<BenchRow[]> {
  const spec: RowSpec = {
    name: 'semantic search end to end vs the Qdrant query alone',
    unit: 'search',
    oursLabel: 'KnowledgeSearch.semanticSearch (embed with the default HashingEmbedder + Qdrant with the organization filter + MongoDB hydration), limit 5',
    baselineLabel: 'EmbeddingIndex.search alone with the query vector computed beforehand, limit 5',
    metric: 'p50',
    goal: '≥ 0.6× (p50)',
    goalMinRatio: 0.6,
    backend: `${ctx.backends.qdrant}; MongoDB: the wire stand-in`,
    note: 'stand-ins: Qdrant and MongoDB are stand-in servers here, so this measures our layers and the request overhead, not real Qdrant or MongoDB work',
    shortfall: {
      reason:
        'sequential round trips: the Qdrant query, then the MongoDB hydration (chunks and titles in parallel), where the baseline makes the Qdrant query alone; the profiles price embed + Qdrant and the hydration alone against that query: two stages of about equal cost cap this design near 0.5× against these stand-ins',
      profiles: [PROFILE_ROW.semanticEmbed, PROFILE_ROW.semanticHydration],
    },
  };
  if (!ctx.backends.qdrantUrl || !mongoUrl) return [unavailableRow(spec, 'no Qdrant or MongoDB (nor a stand-in) in this run')];
  // Real servers run in processes of their own: so do the stand-ins for this row when they can, else the
  // run's in-process ones serve it (and the note says so), their work then sharing the client's event loop.
  let own: StandInProcess | undefined;
  if (ctx.backends.qdrant.includes('stand-in')) {
    own = await startStandInProcess().catch((error: unknown) => {
      ctx.log(`  stand-in process failed (${(error as Error).message}); using the in-process stand-ins`);
      return undefined;
    });
  }
  try {
    const where = own ? 'the stand-ins ran in a process of their own' : 'the stand-ins (if any) ran in the benchmark process';
    return await measure(
      ctx,
      runId,
      { ...spec, note: `${spec.note ?? ''}; ${where}; 4 callers per side` },
      { mongoUrl: own?.mongoUrl ?? mongoUrl, qdrantUrl: own?.qdrantUrl ?? ctx.backends.qdrantUrl },
    );
  } finally {
    await own?.[Symbol.asyncDispose]();
  }
}

async function measure(ctx: BenchContext, runId: string, spec: RowSpec, urls: { mongoUrl: string; qdrantUrl: string }): Promise<BenchRow[]> {
  const platform = await ctx.platformFor(
    {
      DATABASE_URL: ctx.db.ownerUrl,
      DATABASE_APP_URL: ctx.db.appUrl,
      MONGODB_URI: urls.mongoUrl,
      QDRANT_URL: urls.qdrantUrl,
      QDRANT_COLLECTION_PREFIX: `bench${runId}s_`,
      REDIS_KEY_PREFIX: `bench${runId}S:`,
    },
    ['postgres', 'redis', 'qdrant', 'mongo'],
  );
  const index = platform.resolve(EmbeddingIndex);
  try {
    await bootstrapPlatform(platform, { waitMs: 20_000 });
    const tenant = createTenantContext({
      organizationId: '00000000-0000-4000-8000-0000000005e1',
      userId: '00000000-0000-4000-8000-0000000005e2',
      role: 'owner',
    });
    const ingestion = platform.resolve(KnowledgeIngestion);
    const directory = join(repoRoot(), 'docs', 'demo-knowledge');
    const files = (await readdir(directory)).filter((f) => f.endsWith('.md'));
    const refs = [];
    for (const f of files) {
      const { document } = await ingestion.ingestDocument(tenant, {
        source: `demo-knowledge/${f}`,
        title: f.replace(/\.md$/, ''),
        content: await readFile(join(directory, f), 'utf8'),
      });
      refs.push({ id: document.id, version: document.version });
    }
    const worker = await ingestion.startIngestionWorker({ concurrency: 2 });
    try {
      const waited = await ingestion.waitForIndexing(tenant, refs, { timeoutMs: 60_000 });
      if (waited.unsettled.length > 0 || waited.failed.length > 0) throw new Error('bench: demo knowledge did not index');
    } finally {
      await worker.close();
    }
    const search = platform.resolve(KnowledgeSearch);
    const embedder = platform.resolve<Embedder>(EMBEDDER);
    const vectors = (await embedder.embed(QUERIES)).map((v) => Array.from(v));
    const nextQuery = keyCycle(QUERIES);
    const nextVector = keyCycle(vectors);
    ctx.log(`  ${spec.name}`);
    const result = await runInterleaved(
      async () => {
        if ((await search.semanticSearch(tenant, nextQuery(), { limit: 5 })).length === 0) throw new Error('bench: search found nothing');
      },
      async () => {
        if ((await index.search(tenant, nextVector(), { limit: 5 })).length === 0) throw new Error('bench: Qdrant found nothing');
      },
      { ...ctx.timing, concurrency: 4 },
    );
    const rows = [measuredRow(spec, result)];

    // Where the end-to-end p50 goes: the stages before hydration, then the hydration alone (the hits of each
    // query found beforehand), each against the same Qdrant query, interleaved like the row itself.
    const profileSpec = (name: string, oursLabel: string): RowSpec => ({
      name,
      unit: 'search',
      oursLabel,
      baselineLabel: spec.baselineLabel,
      metric: 'p50',
      backend: spec.backend,
      note: spec.note,
    });
    const nextVectorB = keyCycle(vectors);
    const qdrantAlone = async () => {
      if ((await index.search(tenant, nextVectorB(), { limit: 5 })).length === 0) throw new Error('bench: Qdrant found nothing');
    };
    const nextQueryE = keyCycle(QUERIES);
    ctx.log('  profile: semantic search, embed + Qdrant');
    rows.push(
      measuredRow(
        profileSpec(PROFILE_ROW.semanticEmbed, 'HashingEmbedder.embed of the query, then EmbeddingIndex.search (no hydration)'),
        await runInterleaved(
          async () => {
            const [vector] = await embedder.embed([nextQueryE()]);
            if ((await index.search(tenant, vector ?? [], { limit: 5 })).length === 0) throw new Error('bench: Qdrant found nothing');
          },
          qdrantAlone,
          { ...ctx.timing, concurrency: 4 },
        ),
      ),
    );
    const chunks = platform.resolve(KnowledgeChunkRepository);
    const documents = platform.resolve(KnowledgeDocumentRepository);
    const hitSets = await Promise.all(vectors.map((v) => index.search(tenant, v, { limit: 5 })));
    const nextHits = keyCycle(hitSets);
    ctx.log('  profile: semantic search, hydration alone');
    rows.push(
      measuredRow(
        profileSpec(
          PROFILE_ROW.semanticHydration,
          "the hydration semanticSearch runs after Qdrant: KnowledgeChunkRepository.hydrate and KnowledgeDocumentRepository.getMany in parallel, for one query's 5 hits",
        ),
        await runInterleaved(
          async () => {
            const hits = nextHits();
            const [found] = await Promise.all([
              chunks.hydrate(
                tenant,
                hits.map((h) => knowledgeChunkId(h.documentId, h.version, h.ordinal)),
              ),
              documents.getMany(tenant, [...new Set(hits.map((h) => h.documentId))]),
            ]);
            if (found.length === 0) throw new Error('bench: hydration found nothing');
          },
          qdrantAlone,
          { ...ctx.timing, concurrency: 4 },
        ),
      ),
    );
    return rows;
  } finally {
    await platform
      .resolve(JobQueues)
      .close()
      .catch(() => undefined);
    await platform
      .resolve(QdrantConnection)
      .client.deleteCollection(index.collectionName)
      .catch(() => undefined);
    // Before its stand-ins go away (Platform.stop is idempotent; the run's cleanup calls it again).
    await platform.stop().catch(() => undefined);
  }
}
