import { PlatformError } from '../../errors.js';
import { KnowledgeIngestion, type IngestDocumentInput } from '../../flows/knowledge/knowledge-ingestion.js';
import { KnowledgeSearch } from '../../flows/knowledge/knowledge-search.js';
import type { Platform } from '../../platform.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';

/** Demo step: ingest documents through the queue, wait for the worker, then search. */
export async function runDemoKnowledge(
  platform: Platform,
  ctx: TenantContext,
  documents: readonly IngestDocumentInput[],
  say: (line: string) => void,
): Promise<void> {
  const ingestion = platform.resolve(KnowledgeIngestion);
  const worker = await ingestion.startIngestionWorker({ concurrency: 2 });
  try {
    const results = [];
    for (const document of documents) results.push(await ingestion.ingestDocument(ctx, document));
    const settled = await ingestion.waitForIndexing(
      ctx,
      results.map((r) => ({ id: r.document.id, version: r.document.version })),
      { timeoutMs: 60_000 },
    );
    if (settled.indexed.length !== documents.length) {
      throw new PlatformError('DEMO_FAILED', `indexed ${settled.indexed.length} of ${documents.length} documents`);
    }
    const chunks = settled.indexed.reduce((n, d) => n + (d.chunkCount ?? 0), 0);
    say(`${documents.length} documents → ${chunks} chunks, embedded and upserted to Qdrant by the ingestion worker (BullMQ)`);
    const question = 'How long are audit events kept?';
    const hits = await platform.resolve(KnowledgeSearch).semanticSearch(ctx, question, { limit: 3 });
    say(`search "${question}":`);
    for (const hit of hits) say(`  ${hit.score.toFixed(3)}  ${hit.title}: ${hit.text.replace(/\s+/g, ' ').slice(0, 70)}…`);
    if (hits[0]?.title !== 'data-retention') throw new PlatformError('DEMO_FAILED', `the best hit was ${hits[0]?.title ?? 'nothing'}, expected data-retention`);
  } finally {
    await worker.close();
  }
}
