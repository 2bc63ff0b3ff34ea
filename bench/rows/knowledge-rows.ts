import { EmbeddingIndex, type EmbeddingPoint } from '../../src/qdrant/repositories/embedding-index.js';
import { QdrantConnection } from '../../src/qdrant/qdrant-connection.js';
import { QdrantProvisioner } from '../../src/qdrant/qdrant-provisioner.js';
import { createTenantContext } from '../../src/tenancy/tenant-context.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, unavailableRow, type RowSpec } from '../bench-row.js';
import type { BenchContext } from '../bench-context.js';
import { runInterleaved } from '../interleaved-runner.js';

const DIMENSION = 256;
const CHUNKS_PER_DOCUMENT = 64;

/**
 * Row 7: ingesting one document's chunks through EmbeddingIndex.upsert with
 * its default batching vs the same call with batchSize 1 (one upsert request
 * per chunk). Same validation, ids and payloads; only the batching differs.
 */
export async function knowledgeRow(ctx: BenchContext, runId: string): Promise<BenchRow> {
  const spec: RowSpec = {
    name: 'knowledge ingestion (Qdrant upserts)',
    unit: 'chunk',
    oursLabel: `EmbeddingIndex.upsert, default batching (${CHUNKS_PER_DOCUMENT} chunks of ${DIMENSION} dims per call)`,
    baselineLabel: 'EmbeddingIndex.upsert with batchSize 1: one upsert request per chunk',
    backend: ctx.backends.qdrant,
    note: 'informational (no numeric goal in the issue); the stand-in is an in-process server, so the ratio shows request overhead, not Qdrant indexing',
  };
  if (!ctx.backends.qdrantUrl) return unavailableRow(spec, 'no Qdrant and no stand-in in this run');
  const platform = await ctx.platformFor({ QDRANT_COLLECTION_PREFIX: `bench${runId}_` }, ['qdrant']);
  const index = platform.resolve(EmbeddingIndex);
  await platform.resolve(QdrantProvisioner).forDimension(DIMENSION).provision();
  try {
    const tenant = createTenantContext({
      organizationId: '00000000-0000-4000-8000-000000000001',
      userId: '00000000-0000-4000-8000-000000000002',
      role: 'owner',
    });
    let doc = 0;
    const documentPoints = (): EmbeddingPoint[] => {
      doc += 1;
      return Array.from({ length: CHUNKS_PER_DOCUMENT }, (_, ordinal) => {
        const vector = new Float32Array(DIMENSION);
        for (let i = 0; i < DIMENSION; i += 1) vector[i] = Math.sin(doc * 31 + ordinal * 7 + i);
        return { documentId: `bench-doc-${doc}`, version: 1, ordinal, vector };
      });
    };
    ctx.log(`  ${spec.name}`);
    const result = await runInterleaved(
      async () => (await index.upsert(tenant, documentPoints())).upserted,
      async () => (await index.upsert(tenant, documentPoints(), { batchSize: 1 })).upserted,
      { ...ctx.timing, concurrency: 2 },
    );
    return measuredRow(spec, result);
  } finally {
    await platform
      .resolve(QdrantConnection)
      .client.deleteCollection(index.collectionName)
      .catch(() => undefined);
  }
}
