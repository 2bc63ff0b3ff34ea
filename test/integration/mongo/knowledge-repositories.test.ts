import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../../src/errors.js';
import { AnalyticsRepository } from '../../../src/mongo/repositories/analytics-repository.js';
import { knowledgeChunkId, KnowledgeChunkRepository } from '../../../src/mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository } from '../../../src/mongo/repositories/knowledge-document-repository.js';
import { AdminScope } from '../../../src/tenancy/admin-scope.js';
import { tenant } from '../../support/mongo-test-platform.js';
import { test } from '../../support/fixtures.js';

describe('knowledge and analytics repositories', () => {
  let documents: KnowledgeDocumentRepository;
  let chunks: KnowledgeChunkRepository;
  let analytics: AnalyticsRepository;
  test.beforeAll(async ({ mongo: m }) => {
    documents = m.platform.resolve(KnowledgeDocumentRepository);
    chunks = m.platform.resolve(KnowledgeChunkRepository);
    analytics = m.platform.resolve(AnalyticsRepository);
  });

  test('upserts by deterministic id: same content is no change, new content is the next version, pending again', async () => {
    const ctx = tenant();
    const first = await documents.upsert(ctx, { source: 'docs/a.md', title: 'A', content: 'alpha' });
    expect(first).toMatchObject({ created: true, changed: true, document: { version: 1, status: 'pending', chunkCount: 0, content: 'alpha' } });
    expect(first.document.contentHash).toMatch(/^[0-9a-f]{64}$/);
    const again = await documents.upsert(ctx, { source: 'docs/a.md', title: 'A', content: 'alpha' });
    expect(again).toMatchObject({ created: false, changed: false, document: { id: first.document.id, version: 1 } });
    expect(await documents.setStatus(ctx, first.document.id, 'indexed', { version: 1, chunkCount: 3 })).toBe(true);
    const next = await documents.upsert(ctx, { source: 'docs/a.md', title: 'A2', content: 'alpha beta' });
    expect(next).toMatchObject({
      created: false,
      changed: true,
      document: { id: first.document.id, version: 2, status: 'pending', title: 'A2', chunkCount: 0 },
    });
    // A worker still holding version 1 cannot mark version 2.
    expect(await documents.setStatus(ctx, first.document.id, 'indexed', { version: 1, chunkCount: 3 })).toBe(false);
    expect(await documents.setStatus(ctx, first.document.id, 'failed', { version: 2, error: 'embedder down' })).toBe(true);
    expect(await documents.get(ctx, first.document.id)).toMatchObject({ status: 'failed', error: 'embedder down', version: 2 });
    await expect(documents.setStatus(ctx, first.document.id, 'failed')).rejects.toMatchObject({ fields: ['error'] });
    // Same source in another organization: another document.
    const other = await documents.upsert(tenant(), { source: 'docs/a.md', title: 'A', content: 'alpha' });
    expect(other.document.id).not.toBe(first.document.id);
  });

  test('concurrent upserts of new content give consecutive versions, none lost', async () => {
    const ctx = tenant();
    await documents.upsert(ctx, { source: 's', title: 't', content: 'v0' });
    const results = await Promise.all(['v1', 'v2', 'v3'].map((content) => documents.upsert(ctx, { source: 's', title: 't', content })));
    expect(results.map((r) => r.document.version).sort()).toEqual([2, 3, 4]);
  });

  test('validates document input and keeps organizations apart', async () => {
    const a = tenant();
    const b = tenant();
    const error = await documents.upsert(a, { source: '', title: 't' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields.sort()).toEqual(['content', 'contentHash', 'source']);
    const bDoc = (await documents.upsert(b, { source: 'b.md', title: 'B', content: 'b' })).document;
    await expect(documents.get(a, bDoc.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(await documents.setStatus(a, bDoc.id, 'indexing')).toBe(false);
    expect(await documents.delete(a, bDoc.id)).toBe(false);
    expect((await documents.list(a)).items).toEqual([]);
    expect(await documents.getMany(a, [bDoc.id])).toEqual([]);
    // Reusing B's id explicitly from A neither reads nor overwrites it.
    await expect(documents.upsert(a, { id: bDoc.id, source: 'x', title: 'x', content: 'x' })).rejects.toBeInstanceOf(ConflictError);
    expect(await documents.get(b, bDoc.id)).toMatchObject({ status: 'pending', title: 'B' });
  });

  test('lists with keyset pagination and finds stuck documents', async () => {
    const ctx = tenant();
    for (let i = 0; i < 5; i++) await documents.upsert(ctx, { source: `f${i}`, title: `f${i}`, content: `${i}` });
    const first = await documents.list(ctx, { limit: 3 });
    expect(first.items).toHaveLength(3);
    expect(first.items.every((d) => d.content === null)).toBe(true);
    const second = await documents.list(ctx, { limit: 3, cursor: first.nextCursor });
    expect(second.items).toHaveLength(2);
    expect(second.nextCursor).toBeUndefined();
    const ids = [...first.items, ...second.items].map((d) => d.id);
    expect(ids).toEqual([...ids].sort());
    await documents.setStatus(ctx, ids[0]!, 'indexed', { chunkCount: 1 });
    await documents.setStatus(ctx, ids[1]!, 'indexing');
    const stuck = await documents.findStuck(ctx, { olderThan: new Date(Date.now() + 60_000) });
    expect(stuck.map((d) => d.id).sort()).toEqual(ids.slice(1).sort());
    expect(await documents.findStuck(ctx, { olderThan: new Date(Date.now() - 60_000) })).toEqual([]);
  });

  test('replaces chunks idempotently with deterministic ids, hydrates in the given order, drops older versions only', async () => {
    const ctx = tenant();
    const doc = (await documents.upsert(ctx, { source: 'c.md', title: 'C', content: 'c' })).document;
    const texts = Array.from({ length: 6 }, (_, i) => ({ text: `chunk ${i}`, tokenCount: 2 }));
    expect(await chunks.replaceForDocument(ctx, doc.id, 1, texts)).toEqual({ written: 6, removed: 0 });
    expect(await chunks.replaceForDocument(ctx, doc.id, 1, texts)).toEqual({ written: 6, removed: 0 });
    expect(await chunks.countByDocument(ctx, doc.id)).toBe(6);
    // Re-chunked shorter: the tail goes.
    expect(await chunks.replaceForDocument(ctx, doc.id, 1, texts.slice(0, 4))).toEqual({ written: 4, removed: 2 });
    await chunks.replaceForDocument(ctx, doc.id, 2, [{ text: 'v2 only' }]);
    expect(await chunks.countByDocument(ctx, doc.id)).toBe(5);
    expect(await chunks.countByDocument(ctx, doc.id, { version: 1 })).toBe(4);

    const order = [knowledgeChunkId(doc.id, 1, 3), knowledgeChunkId(doc.id, 2, 0), 'missing', knowledgeChunkId(doc.id, 1, 0)];
    const hydrated = await chunks.hydrate(ctx, order);
    expect(hydrated.map((c) => c.text)).toEqual(['chunk 3', 'v2 only', 'chunk 0']);
    expect(hydrated[0]).toMatchObject({ documentId: doc.id, version: 1, ordinal: 3, organizationId: ctx.organizationId });
    expect(await chunks.hydrate(tenant(), order)).toEqual([]);

    // Only versions below the one named: version 3 (a newer one being written) would survive a cleanup for 2.
    await chunks.replaceForDocument(ctx, doc.id, 3, [{ text: 'v3 a' }, { text: 'v3 b' }]);
    expect(await chunks.deleteVersionsBelow(tenant(), doc.id, 99)).toBe(0);
    expect(await chunks.deleteVersionsBelow(ctx, doc.id, 2)).toBe(4);
    expect(await chunks.countByDocument(ctx, doc.id, { version: 2 })).toBe(1);
    expect(await chunks.countByDocument(ctx, doc.id, { version: 3 })).toBe(2);
    expect(await chunks.deleteVersionsBelow(ctx, doc.id, 2)).toBe(0);
    await expect(chunks.deleteVersionsBelow(ctx, doc.id, 0)).rejects.toMatchObject({ fields: ['belowVersion'] });
  });

  test('deleteOrdinalsFrom removes the tail of one version only', async () => {
    const ctx = tenant();
    const doc = (await documents.upsert(ctx, { source: 'tail.md', title: 'T', content: 't' })).document;
    const texts = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `chunk ${i}` }));
    await chunks.replaceForDocument(ctx, doc.id, 1, texts(5));
    await chunks.replaceForDocument(ctx, doc.id, 2, texts(5));
    expect(await chunks.deleteOrdinalsFrom(tenant(), doc.id, 1, 0)).toBe(0);
    expect(await chunks.deleteOrdinalsFrom(ctx, doc.id, 1, 3)).toBe(2);
    expect(
      (
        await chunks.hydrate(
          ctx,
          [0, 1, 2, 3, 4].map((o) => knowledgeChunkId(doc.id, 1, o)),
        )
      ).map((c) => c.ordinal),
    ).toEqual([0, 1, 2]);
    expect(await chunks.countByDocument(ctx, doc.id, { version: 2 })).toBe(5);
    expect(await chunks.deleteOrdinalsFrom(ctx, doc.id, 1, 3)).toBe(0);
    await expect(chunks.deleteOrdinalsFrom(ctx, doc.id, 1, -1)).rejects.toMatchObject({ fields: ['fromOrdinal'] });
  });

  test('records analytics and counts per UTC day', async () => {
    const ctx = tenant();
    const day = (d: string, h: number) => new Date(`${d}T${String(h).padStart(2, '0')}:00:00Z`);
    await analytics.record(ctx, { type: 'search', at: day('2026-03-01', 1), properties: { q: 'x' } });
    await analytics.record(ctx, { type: 'search', at: day('2026-03-01', 23) });
    await analytics.record(ctx, { type: 'search', at: day('2026-03-03', 12) });
    await analytics.record(ctx, { type: 'login', at: day('2026-03-03', 12), userId: null });
    await analytics.record(tenant(), { type: 'search', at: day('2026-03-01', 12) });
    expect(await analytics.countPerDay(ctx, { type: 'search', from: day('2026-03-01', 0), to: day('2026-03-04', 0) })).toEqual([
      { day: '2026-03-01', count: 2 },
      { day: '2026-03-03', count: 1 },
    ]);
    expect(await analytics.countPerDay(ctx, { from: day('2026-03-02', 0), to: day('2026-03-04', 0) })).toEqual([{ day: '2026-03-03', count: 2 }]);
    await expect(analytics.record(ctx, { type: 'x', properties: { $where: 1 } })).rejects.toMatchObject({ fields: ['properties'] });
  });

  test('deletes everything of one organization with an AdminScope, leaving others', async () => {
    const a = tenant();
    const b = tenant();
    const scope = AdminScope.create({ actor: 'test', reason: 'org deletion' });
    for (const ctx of [a, b]) {
      const d = (await documents.upsert(ctx, { source: 'x', title: 'x', content: 'x' })).document;
      await chunks.replaceForDocument(ctx, d.id, 1, [{ text: 'x' }]);
    }
    expect(await chunks.deleteAllForOrganization(scope, a.organizationId)).toBe(1);
    expect(await documents.deleteAllForOrganization(scope, a.organizationId)).toBe(1);
    expect((await documents.list(a)).items).toEqual([]);
    expect((await documents.list(b)).items).toHaveLength(1);
  });
});
