import type { QdrantClient } from '@qdrant/js-client-rest';
import { describe, expect } from 'vitest';
import { expectQdrantError, realAnswerOrRefusal, uniqueCollection, type QdrantFixture } from './qdrant-conformance-kit.js';
import { test } from '../../support/fixtures.js';

/**
 * What a real Qdrant 1.19 answers to the endpoints the 1.19 client can call,
 * one case per difference found in the stand-in (issue 18). Sources: Qdrant's
 * own integration tests (qdrant/qdrant tests/openapi/*.py) and its OpenAPI
 * document / documentation, named per case. Runs unchanged against a real
 * server (QDRANT_URL).
 */

async function collectionWithPoints(qdrant: QdrantFixture, client: QdrantClient, prefix: string): Promise<string> {
  const name = qdrant.track(uniqueCollection(prefix));
  await client.createCollection(name, { vectors: { size: 4, distance: 'Dot' } });
  await client.upsert(name, {
    wait: true,
    points: [
      { id: 1, vector: [0.05, 0.61, 0.76, 0.74], payload: { city: 'Berlin', price: 1.5 } },
      { id: 2, vector: [0.19, 0.81, 0.75, 0.11], payload: { city: 'London', price: 2.5 } },
      { id: 3, vector: [0.36, 0.55, 0.47, 0.94], payload: { city: 'Berlin', price: 3.5 } },
    ],
  });
  return name;
}

describe('aliases', () => {
  // qdrant/qdrant tests/openapi/test_alias.py (test_alias_operations, test_cant_create_alias_if_collection_exists,
  // test_cant_create_collection_if_alias_exists).
  test('creates, lists, resolves and deletes an alias', async ({ qdrant, qdrant: { client } }) => {
    const name = await collectionWithPoints(qdrant, client, 'alias');
    const alias = `${name}_alias`;
    await client.updateCollectionAliases({ actions: [{ create_alias: { alias_name: alias, collection_name: name } }] });
    expect((await client.getAliases()).aliases).toContainEqual({ alias_name: alias, collection_name: name });
    expect((await client.getCollectionAliases(name)).aliases).toEqual([{ alias_name: alias, collection_name: name }]);
    expect((await client.query(alias, { query: [0.2, 0.1, 0.9, 0.7], limit: 3 })).points).toHaveLength(3);
    await client.updateCollectionAliases({ actions: [{ delete_alias: { alias_name: alias } }] });
    expect((await client.getCollectionAliases(name)).aliases).toEqual([]);
    await expectQdrantError(client.query(alias, { query: [0.2, 0.1, 0.9, 0.7], limit: 3 }), 404);
  });

  test('refuses an alias named like a collection (409) and a collection named like an alias (400)', async ({ qdrant, qdrant: { client } }) => {
    const first = await collectionWithPoints(qdrant, client, 'alias_a');
    const second = await collectionWithPoints(qdrant, client, 'alias_b');
    await expectQdrantError(client.updateCollectionAliases({ actions: [{ create_alias: { alias_name: second, collection_name: first } }] }), 409);
    const third = qdrant.track(uniqueCollection('alias_c'));
    await client.updateCollectionAliases({ actions: [{ create_alias: { alias_name: third, collection_name: first } }] });
    await expectQdrantError(client.createCollection(third, { vectors: { size: 4, distance: 'Dot' } }), 400);
    await client.updateCollectionAliases({ actions: [{ delete_alias: { alias_name: third } }] });
  });
});

describe('batch update', () => {
  // qdrant/qdrant tests/openapi/test_batch_update.py (test_batch_update, test_batch_update_payload).
  test('applies upserts, deletes and vector updates in order', async ({ qdrant, qdrant: { client } }) => {
    const name = await collectionWithPoints(qdrant, client, 'batch');
    const results = await client.batchUpdate(name, {
      wait: true,
      operations: [
        { upsert: { points: [{ id: 7, vector: [1, 2, 3, 4], payload: {} }] } },
        { upsert: { points: [{ id: 8, vector: [1, 2, 3, 4], payload: {} }] } },
        { delete: { points: [8] } },
        { upsert: { points: [{ id: 7, vector: [2, 1, 3, 4], payload: {} }] } },
        { update_vectors: { points: [{ id: 7, vector: [9, 2, 4, 2] }] } },
      ],
    });
    expect(results).toHaveLength(5);
    const points = await client.retrieve(name, { ids: [7, 8], with_vector: true, with_payload: true });
    expect(points.map((p) => p.id)).toEqual([7]);
    expect(points[0]?.vector).toEqual([9, 2, 4, 2]);
  });

  test('applies payload operations on the same point in order', async ({ qdrant, qdrant: { client } }) => {
    const name = await collectionWithPoints(qdrant, client, 'batch_payload');
    await client.batchUpdate(name, {
      wait: true,
      operations: [
        { overwrite_payload: { payload: { test_payload_1: '1' }, points: [1] } },
        { set_payload: { payload: { test_payload_2: '2', test_payload_3: '3' }, points: [1] } },
        { delete_payload: { keys: ['test_payload_2'], points: [1] } },
        { clear_payload: { points: [2] } },
      ],
    });
    const [one, two] = await client.retrieve(name, { ids: [1, 2], with_payload: true });
    expect(one?.payload).toEqual({ test_payload_1: '1', test_payload_3: '3' });
    expect(two?.payload).toEqual({});
  });
});

describe('filters', () => {
  // Qdrant OpenAPI: MatchValue.value is ValueVariants = string | integer | boolean; a float does not deserialize (400).
  test('refuses a float match value with 400', async ({ qdrant, qdrant: { client } }) => {
    const name = await collectionWithPoints(qdrant, client, 'float_match');
    await expectQdrantError(client.count(name, { filter: { must: [{ key: 'price', match: { value: 1.5 } }] } } as never), 400);
    expect((await client.count(name, { filter: { must: [{ key: 'price', range: { gte: 1.5, lte: 1.5 } }] } })).count).toBe(1);
  });
});

describe('collection settings', () => {
  // qdrant/qdrant tests/openapi/test_collection_update.py: a PATCH of optimizers_config is reported by GET /collections/{c}.
  test('reports PATCHed optimizer and HNSW settings', async ({ qdrant, qdrant: { client } }) => {
    const name = await collectionWithPoints(qdrant, client, 'patch');
    await client.updateCollection(name, { optimizers_config: { indexing_threshold: 800 }, hnsw_config: { m: 32 } });
    const info = await client.getCollection(name);
    expect(info.config.optimizer_config.indexing_threshold).toBe(800);
    expect(info.config.hnsw_config.m).toBe(32);
  });

  test('strict mode is enforced by a real server and refused by the stand-in', async ({ qdrant, qdrant: { target, client } }) => {
    // Qdrant docs "Administration → Strict mode": with unindexed_filtering_retrieve false, filtering on an unindexed key fails with 400.
    const name = qdrant.track(uniqueCollection('strict'));
    await realAnswerOrRefusal(
      target,
      async () => {
        await client.createCollection(name, {
          vectors: { size: 4, distance: 'Dot' },
          strict_mode_config: { enabled: true, unindexed_filtering_retrieve: false },
        });
        return expectQdrantError(client.count(name, { filter: { must: [{ key: 'city', match: { value: 'Berlin' } }] } }), 400);
      },
      (text) => expect(String(text)).toMatch(/index/i),
    );
  });
});

describe('endpoints the stand-in does not implement answer a JSON error, never an empty 404', () => {
  // Qdrant OpenAPI (1.19): these paths exist; a real server answers them (qdrant/qdrant tests/openapi/test_group.py,
  // test_snapshot.py, test_facet*.py, test_search_matrix*.py).
  test('query groups, facets, distance matrix and snapshots', async ({ qdrant, qdrant: { client, target } }) => {
    const name = await collectionWithPoints(qdrant, client, 'unsupported');
    // Qdrant docs "Search → Facet counts": facets need a keyword index on the key.
    await client.createPayloadIndex(name, { field_name: 'city', field_schema: 'keyword', wait: true });
    await realAnswerOrRefusal(
      target,
      () => client.queryGroups(name, { query: [0.2, 0.1, 0.9, 0.7], group_by: 'city', limit: 2, group_size: 2 }),
      (result) => expect((result as { groups: unknown[] }).groups).toHaveLength(2),
    );
    await realAnswerOrRefusal(
      target,
      () => client.facet(name, { key: 'city', exact: true }),
      (result) => expect((result as { hits: unknown[] }).hits).toContainEqual({ value: 'Berlin', count: 2 }),
    );
    await realAnswerOrRefusal(
      target,
      () => client.searchMatrixPairs(name, { sample: 3, limit: 1 }),
      (result) => expect((result as { pairs: unknown[] }).pairs.length).toBeGreaterThan(0),
    );
    await realAnswerOrRefusal(
      target,
      () => client.listSnapshots(name),
      (result) => expect(Array.isArray(result)).toBe(true),
    );
  });

  // Qdrant OpenAPI (1.19): every path the 1.19 client calls exists on a real server; those the stand-in lacks answer 400 with a
  // JSON status.error naming the feature (never an empty 404). The answers of a real server depend on its deployment, so
  // against one this case only checks that it does not answer 404.
  test('named-vector changes, optimization progress, shard keys, quotas and cluster telemetry', async ({ qdrant, qdrant: { client, target } }) => {
    const name = await collectionWithPoints(qdrant, client, 'unsupported_more');
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['createVectorName', () => client.createVectorName(name, 'extra', { size: 4, distance: 'Dot' } as never)],
      ['deleteVectorName', () => client.deleteVectorName(name, 'extra')],
      ['getOptimizations', () => client.getOptimizations(name, {} as never)],
      ['listShardKeys', () => client.listShardKeys(name)],
      ['getQuotas', () => client.getQuotas()],
      ['clusterTelemetry', () => client.clusterTelemetry({} as never)],
    ];
    for (const [method, call] of calls) {
      const outcome = await call().then(
        () => undefined,
        (e: unknown) => e as { status?: number; data?: { status?: { error?: string } } },
      );
      if (target.backend === 'real') {
        expect(outcome?.status, method).not.toBe(404);
        continue;
      }
      expect(outcome?.status, method).toBe(400);
      expect(outcome?.data?.status?.error, method).toMatch(/not support/);
    }
  });
});
