import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';
import { ConfigError, TenantAccessError, ValidationError } from '../../../src/errors.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { EmbeddingIndex } from '../../../src/qdrant/repositories/embedding-index.js';
import { knowledgePointId } from '../../../src/qdrant/knowledge-point-id.js';
import { QdrantConnection } from '../../../src/qdrant/qdrant-connection.js';
import { QdrantProvisioner } from '../../../src/qdrant/qdrant-provisioner.js';
import { AdminScope } from '../../../src/tenancy/admin-scope.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { createTestEnv } from '../../support/test-env.js';

const DIM = 8;

function tenant(): TenantContext {
  return createTenantContext({ organizationId: randomUUID(), userId: randomUUID(), role: 'admin', scopes: [] });
}

/** A unit vector along axis `i` plus a little of axis `j`, so scores are predictable. */
function vec(i: number, j = (i + 1) % DIM, w = 0.1): number[] {
  const v = new Array<number>(DIM).fill(0);
  v[i] = 1;
  v[j] = (v[j] ?? 0) + w;
  return v;
}

describe('QdrantProvisioner and EmbeddingIndex', () => {
  let platform: Platform;
  let provisioner: QdrantProvisioner;
  let index: EmbeddingIndex;
  test.beforeAll(async ({ testEnv: t }) => {
    platform = createPlatform(t.config, { stores: ['qdrant'] });
    await platform.start();
    provisioner = platform.resolve(QdrantProvisioner);
    index = platform.resolve(EmbeddingIndex);
  });
  test.afterAll(async () => {
    await platform?.stop();
  });

  test('provisions the collection with tenant payload indexes, and the second run changes nothing', async ({ testEnv: t }) => {
    expect(await provisioner.forDimension(DIM).pending()).toEqual([`collection ${index.collectionName} missing`]);
    const first = await provisioner.forDimension(DIM).provision();
    expect(first.map((s) => [s.step, s.changed])).toEqual([
      [`collection ${t.config.qdrant.collectionPrefix}knowledge_chunks`, true],
      [`payload index ${index.collectionName}.organizationId`, true],
      [`payload index ${index.collectionName}.documentId`, true],
      [`payload index ${index.collectionName}.version`, true],
    ]);
    const second = await provisioner.forDimension(DIM).provision();
    expect(second.filter((s) => s.changed)).toEqual([]);
    expect(await provisioner.forDimension(DIM).pending()).toEqual([]);
    const info = await platform.resolve(QdrantConnection).client.getCollection(index.collectionName);
    expect(info.payload_schema?.organizationId).toMatchObject({ data_type: 'keyword', params: { is_tenant: true } });
    expect(info.payload_schema?.documentId).toMatchObject({ data_type: 'keyword' });
    expect(info.payload_schema?.version).toMatchObject({ data_type: 'integer' });
  });

  test('adds the version index to a collection made before it existed, and reports it pending until then', async () => {
    await provisioner.forDimension(DIM).provision();
    const client = platform.resolve(QdrantConnection).client;
    await client.deletePayloadIndex(index.collectionName, 'version', { wait: true });
    expect(await provisioner.forDimension(DIM).pending()).toEqual([`payload index ${index.collectionName}.version missing`]);
    const steps = await provisioner.forDimension(DIM).provision();
    expect(steps.filter((s) => s.changed)).toEqual([
      { store: 'qdrant', step: `payload index ${index.collectionName}.version`, changed: true, detail: 'created (integer)' },
    ]);
    expect(await provisioner.forDimension(DIM).pending()).toEqual([]);
  });

  test('refuses a dimension that differs from the existing collection with a ConfigError naming both sizes', async () => {
    await provisioner.forDimension(DIM).provision();
    const error = await provisioner
      .forDimension(DIM * 2)
      .provision()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(new RegExp(`vector size ${DIM}\\b.*dimension is ${DIM * 2}\\b`));
    expect(await provisioner.forDimension(DIM * 2).pending()).toEqual([expect.stringMatching(/vector size 8, embedder has 16/)]);
  });

  test('upserts in batches with deterministic ids: a re-upsert adds no points', async () => {
    await provisioner.forDimension(DIM).provision();
    const ctx = tenant();
    const documentId = randomUUID();
    const points = Array.from({ length: 10 }, (_, ordinal) => ({ documentId, version: 1, ordinal, vector: new Float32Array(vec(ordinal % DIM)) }));
    expect(await index.upsert(ctx, points, { batchSize: 3 })).toEqual({ upserted: 10, batches: 4 });
    expect(await index.countByDocument(ctx, documentId)).toBe(10);
    expect(await index.upsert(ctx, points)).toEqual({ upserted: 10, batches: 1 });
    expect(await index.countByDocument(ctx, documentId)).toBe(10);
    const stored = await platform
      .resolve(QdrantConnection)
      .client.retrieve(index.collectionName, { ids: [knowledgePointId(ctx.organizationId, documentId, 1, 4)], with_payload: true });
    expect(stored[0]?.payload).toEqual({ organizationId: ctx.organizationId, documentId, version: 1, ordinal: 4 });
  });

  test('validates points and search input', async () => {
    const ctx = tenant();
    const error = await index.upsert(ctx, [{ documentId: 'd', version: 0, ordinal: 0, vector: [Number.NaN] }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields.sort()).toEqual(['points.0.vector.0', 'points.0.version']);
    // A vector of the wrong size is refused by Qdrant and mapped.
    await expect(index.upsert(ctx, [{ documentId: 'd', version: 1, ordinal: 0, vector: [1, 2, 3] }])).rejects.toBeInstanceOf(ValidationError);
    await expect(index.search(ctx, vec(0), { limit: 0 })).rejects.toMatchObject({ fields: ['limit'] });
  });

  test('search returns only the caller organization, ranked, filtered by documents and threshold', async () => {
    await provisioner.forDimension(DIM).provision();
    const a = tenant();
    const b = tenant();
    const docA1 = randomUUID();
    const docA2 = randomUUID();
    const docB = randomUUID();
    await index.upsert(a, [
      { documentId: docA1, version: 1, ordinal: 0, vector: vec(0) },
      { documentId: docA1, version: 1, ordinal: 1, vector: vec(1) },
      { documentId: docA2, version: 1, ordinal: 0, vector: vec(0, 2, 0.5) },
    ]);
    // B's point is the exact query vector: the best match overall, and must not show up for A.
    await index.upsert(b, [{ documentId: docB, version: 1, ordinal: 0, vector: vec(0) }]);

    const hits = await index.search(a, vec(0), { limit: 10 });
    expect(hits.map((h) => h.documentId)).not.toContain(docB);
    expect(hits.map((h) => [h.documentId, h.ordinal])).toEqual([
      [docA1, 0],
      [docA2, 0],
      [docA1, 1],
    ]);
    expect(hits[0]!.score).toBeCloseTo(1, 5);
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);

    expect((await index.search(a, vec(0), { documentIds: [docA2, docB] })).map((h) => h.documentId)).toEqual([docA2]);
    expect((await index.search(a, vec(0), { scoreThreshold: 0.95 })).map((h) => [h.documentId, h.ordinal])).toEqual([[docA1, 0]]);
    expect((await index.search(b, vec(0))).map((h) => h.documentId)).toEqual([docB]);
    expect(await index.countByDocument(a, docB)).toBe(0);
    await expect(index.search(undefined as unknown as TenantContext, vec(0))).rejects.toBeInstanceOf(TenantAccessError);
    // A viewer may search but not write.
    const viewer = createTenantContext({ organizationId: a.organizationId, userId: randomUUID(), role: 'viewer', scopes: [] });
    expect(await index.search(viewer, vec(0), { limit: 1 })).toHaveLength(1);
    await expect(index.upsert(viewer, [{ documentId: docA1, version: 1, ordinal: 9, vector: vec(0) }])).rejects.toMatchObject({
      permission: 'knowledge:write',
    });
  });

  test('deleteVersionsBelow, deleteOrdinalsFrom and deleteByDocument delete only what they name, never in another organization', async () => {
    await provisioner.forDimension(DIM).provision();
    const a = tenant();
    const b = tenant();
    const doc = randomUUID();
    const other = randomUUID();
    const points = (documentId: string) =>
      [1, 2, 3].flatMap((version) => [0, 1, 2, 3].map((ordinal) => ({ documentId, version, ordinal, vector: vec((version + ordinal) % DIM) })));
    // The same document id in two organizations: distinct points (the organization is part of the id).
    for (const ctx of [a, b]) await index.upsert(ctx, points(doc));
    await index.upsert(a, points(other));

    // Below 2: version 1 goes; 2 and the newer 3 stay.
    await index.deleteVersionsBelow(a, doc, 2);
    expect(await index.countByDocument(a, doc, { version: 1 })).toBe(0);
    expect(await index.countByDocument(a, doc, { version: 2 })).toBe(4);
    expect(await index.countByDocument(a, doc, { version: 3 })).toBe(4);
    // The tail of version 2 from ordinal 2; version 3's ordinals 2 and 3 stay.
    await index.deleteOrdinalsFrom(a, doc, 2, 2);
    expect(await index.countByDocument(a, doc, { version: 2 })).toBe(2);
    expect(await index.countByDocument(a, doc, { version: 3 })).toBe(4);
    const stored = await platform.resolve(QdrantConnection).client.retrieve(index.collectionName, {
      ids: [0, 1, 2, 3].map((o) => knowledgePointId(a.organizationId, doc, 2, o)),
      with_payload: ['ordinal'],
    });
    expect(stored.map((p) => p.payload?.ordinal).sort()).toEqual([0, 1]);
    expect(await index.countByDocument(b, doc)).toBe(12);
    expect(await index.countByDocument(a, other)).toBe(12);

    await expect(index.deleteVersionsBelow(a, doc, 0)).rejects.toMatchObject({ fields: ['belowVersion'] });
    await expect(index.deleteOrdinalsFrom(a, doc, 1, -1)).rejects.toMatchObject({ fields: ['fromOrdinal'] });
    const viewer = createTenantContext({ organizationId: a.organizationId, userId: randomUUID(), role: 'viewer', scopes: [] });
    await expect(index.deleteVersionsBelow(viewer, doc, 9)).rejects.toMatchObject({ permission: 'knowledge:write' });
    await expect(index.deleteOrdinalsFrom(viewer, doc, 3, 0)).rejects.toMatchObject({ permission: 'knowledge:write' });

    await index.deleteByDocument(a, doc);
    expect(await index.countByDocument(a, doc)).toBe(0);
    expect(await index.countByDocument(a, other)).toBe(12);
    expect(await index.countByDocument(b, doc)).toBe(12);

    const forged = { actor: 'x', reason: 'y' } as unknown as AdminScope;
    await expect(index.deleteByOrganization(forged, b.organizationId)).rejects.toBeInstanceOf(TenantAccessError);
    const scope = AdminScope.create({ actor: 'test', reason: 'organization deletion' });
    await index.deleteByOrganization(scope, b.organizationId);
    expect(await index.countByOrganization(scope, b.organizationId)).toBe(0);
  });
});

describe('EmbeddingIndex with the HashingEmbedder', () => {
  test('finds the passage that shares words with the query, for its own organization only', async () => {
    const { HashingEmbedder } = await import('../../../src/flows/knowledge/hashing-embedder.js');
    const t = await createTestEnv();
    await using platform = createPlatform(t.config, { stores: ['qdrant'] });
    await platform.start();
    const embedder = new HashingEmbedder();
    await platform.resolve(QdrantProvisioner).forDimension(embedder.dimension).provision();
    const index = platform.resolve(EmbeddingIndex);
    const a = tenant();
    const b = tenant();
    const passages = [
      'Refunds are issued within 14 days for annual plans.',
      'Two-factor authentication is in the security settings.',
      'The API rate limit is 600 requests per minute.',
    ];
    const documentId = randomUUID();
    const vectors = await embedder.embed(passages);
    await index.upsert(
      a,
      vectors.map((vector, ordinal) => ({ documentId, version: 1, ordinal, vector })),
    );
    await index.upsert(b, [{ documentId: randomUUID(), version: 1, ordinal: 0, vector: embedder.embedOne('refunds for annual plans') }]);
    const hits = await index.search(a, embedder.embedOne('refunds for annual plans'), { limit: 3 });
    expect(hits.map((h) => h.ordinal)).toHaveLength(3);
    expect(hits[0]).toMatchObject({ documentId, ordinal: 0 });
  });
});
