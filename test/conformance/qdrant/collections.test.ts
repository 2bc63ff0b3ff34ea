import { describe, expect } from 'vitest';
import { expectQdrantError, uniqueCollection, type QdrantFixture } from './qdrant-conformance-kit.js';
import { test } from '../../support/fixtures.js';

function name(qdrant: QdrantFixture, prefix: string): string {
  const n = uniqueCollection(prefix);
  qdrant.track(n);
  return n;
}

describe('collections', () => {
  test('reports a version the installed client accepts', async ({ qdrant: { client } }) => {
    const info = await client.versionInfo();
    expect(info.title).toBe('qdrant - vector search engine');
    expect(info.version).toMatch(/^1\.(18|19|20)\./);
  });

  test('creates, describes, lists and deletes a collection', async ({ qdrant, qdrant: { client } }) => {
    const c = name(qdrant, 'conf_coll');
    await expect(client.createCollection(c, { vectors: { size: 4, distance: 'Cosine' } })).resolves.toBe(true);
    await expect(client.collectionExists(c)).resolves.toEqual({ exists: true });

    const info = await client.getCollection(c);
    expect(info.status).toBe('green');
    expect(info.optimizer_status).toBe('ok');
    expect(info.points_count).toBe(0);
    expect(info.config.params.vectors).toEqual({ size: 4, distance: 'Cosine' });
    expect(info.payload_schema).toEqual({});

    const { collections } = await client.getCollections();
    expect(collections.map((x) => x.name)).toContain(c);

    await expect(client.deleteCollection(c)).resolves.toBe(true);
    await expect(client.collectionExists(c)).resolves.toEqual({ exists: false });
    // Deleting what is gone is not an error: the result is just false.
    await expect(client.deleteCollection(c)).resolves.toBe(false);
  });

  test('refuses a duplicate name with 409', async ({ qdrant, qdrant: { client } }) => {
    const c = name(qdrant, 'conf_dup');
    await client.createCollection(c, { vectors: { size: 4, distance: 'Dot' } });
    const message = await expectQdrantError(client.createCollection(c, { vectors: { size: 4, distance: 'Dot' } }), 409);
    expect(message).toBe(`Wrong input: Collection \`${c}\` already exists!`);
  });

  test('answers 404 for a missing collection', async ({ qdrant: { client } }) => {
    const c = uniqueCollection('conf_missing');
    expect(await expectQdrantError(client.getCollection(c), 404)).toBe(`Not found: Collection \`${c}\` doesn't exist!`);
    expect(await expectQdrantError(client.upsert(c, { points: [{ id: 1, vector: [1, 2, 3, 4] }] }), 404)).toBe(`Not found: Collection \`${c}\` doesn't exist!`);
    expect(await expectQdrantError(client.query(c, { query: [1, 2, 3, 4] }), 404)).toBe(`Not found: Collection \`${c}\` doesn't exist!`);
  });

  test('validates the vector size with 422', async ({ qdrant: { client } }) => {
    const c = uniqueCollection('conf_size0');
    const message = await expectQdrantError(client.createCollection(c, { vectors: { size: 0, distance: 'Cosine' } }), 422);
    expect(message).toBe('Validation error in JSON body: [vectors.size: value 0 invalid, must be from 1 to 65536]');
  });

  test('rejects an unknown distance as a JSON format error', async ({ qdrant: { client } }) => {
    const c = uniqueCollection('conf_dist');
    const vectors = { size: 4, distance: 'Hamming' } as unknown as { size: number; distance: 'Cosine' };
    const message = await expectQdrantError(client.createCollection(c, { vectors }), 400);
    expect(message.startsWith('Format error in JSON body: ')).toBe(true);
  });

  test('keeps named vector configs', async ({ qdrant, qdrant: { client } }) => {
    const c = name(qdrant, 'conf_named');
    await client.createCollection(c, {
      vectors: { image: { size: 2, distance: 'Dot' }, text: { size: 3, distance: 'Cosine' } },
    });
    const info = await client.getCollection(c);
    expect(info.config.params.vectors).toEqual({ image: { size: 2, distance: 'Dot' }, text: { size: 3, distance: 'Cosine' } });
  });

  test('accepts a collection update', async ({ qdrant, qdrant: { client } }) => {
    const c = name(qdrant, 'conf_update');
    await client.createCollection(c, { vectors: { size: 4, distance: 'Cosine' } });
    await expect(client.updateCollection(c, { optimizers_config: { indexing_threshold: 20000 } })).resolves.toBe(true);
  });

  test('creates and deletes payload indexes', async ({ qdrant, qdrant: { client } }) => {
    const c = name(qdrant, 'conf_index');
    await client.createCollection(c, { vectors: { size: 2, distance: 'Dot' } });
    await client.upsert(c, {
      points: [
        { id: 1, vector: [1, 0], payload: { city: 'Berlin' } },
        { id: 2, vector: [0, 1], payload: { city: 'Paris' } },
        { id: 3, vector: [1, 1], payload: { other: true } },
      ],
    });
    const result = await client.createPayloadIndex(c, { field_name: 'city', field_schema: 'keyword', wait: true });
    expect(result.status).toBe('completed');
    expect(typeof result.operation_id).toBe('number');
    const info = await client.getCollection(c);
    expect(info.payload_schema['city']).toEqual({ data_type: 'keyword', points: 2 });

    await client.deletePayloadIndex(c, 'city', { wait: true });
    expect((await client.getCollection(c)).payload_schema).toEqual({});
  });
});
