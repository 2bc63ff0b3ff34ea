import type { QdrantClient } from '@qdrant/js-client-rest';
import { describe, expect } from 'vitest';
import { uniqueCollection } from './qdrant-conformance-kit.js';
import { test } from '../../support/fixtures.js';

let c: string;

type Filter = NonNullable<Parameters<QdrantClient['count']>[1]>['filter'];

const PAYLOADS: Array<Record<string, unknown>> = [
  { city: 'Berlin', price: 10, tags: ['a', 'b'], owner: { name: 'ann', age: 30 }, note: 'quick brown fox' },
  { city: 'Paris', price: 20, tags: ['b'], owner: { name: 'bob', age: 40 }, note: null },
  { city: 'London', price: 30.5, tags: [], owner: { name: 'cid', age: 50 } },
  { city: 'Berlin', price: 40, tags: ['c', 'd', 'e'], discount: null },
  {
    city: 'Rome',
    items: [
      { sku: 'x', qty: 1 },
      { sku: 'y', qty: 5 },
    ],
  },
  { items: [{ sku: 'x', qty: 5 }], flag: true },
];

async function ids(client: QdrantClient, filter: Filter): Promise<unknown[]> {
  const { points } = await client.scroll(c, { filter, limit: 100, with_payload: false });
  return points.map((p) => p.id);
}

test.beforeAll(async ({ qdrant, qdrant: { client } }) => {
  c = qdrant.track(uniqueCollection('conf_filters'));
  await client.createCollection(c, { vectors: { size: 2, distance: 'Dot' } });
  await client.upsert(c, { wait: true, points: PAYLOADS.map((payload, i) => ({ id: i + 1, vector: [1, i], payload })) });
});

describe('filters', () => {
  test('match value, any and except', async ({ qdrant: { client } }) => {
    expect(await ids(client, { must: [{ key: 'city', match: { value: 'Berlin' } }] })).toEqual([1, 4]);
    expect(await ids(client, { must: [{ key: 'city', match: { any: ['Paris', 'Rome'] } }] })).toEqual([2, 5]);
    expect(await ids(client, { must: [{ key: 'city', match: { except: ['Berlin', 'Paris'] } }] })).toEqual([3, 5]);
    expect(await ids(client, { must: [{ key: 'tags', match: { value: 'b' } }] })).toEqual([1, 2]);
    expect(await ids(client, { must: [{ key: 'flag', match: { value: true } }] })).toEqual([6]);
  });

  test('range on numbers', async ({ qdrant: { client } }) => {
    expect(await ids(client, { must: [{ key: 'price', range: { gte: 20, lt: 40 } }] })).toEqual([2, 3]);
    expect(await ids(client, { must: [{ key: 'price', range: { gt: 30.5 } }] })).toEqual([4]);
  });

  test('must_not, should and min_should', async ({ qdrant: { client } }) => {
    expect(await ids(client, { must_not: [{ key: 'city', match: { value: 'Berlin' } }] })).toEqual([2, 3, 5, 6]);
    expect(
      await ids(client, {
        should: [
          { key: 'city', match: { value: 'Paris' } },
          { key: 'price', range: { gte: 40 } },
        ],
      }),
    ).toEqual([2, 4]);
    expect(
      await ids(client, {
        min_should: {
          conditions: [
            { key: 'city', match: { value: 'Berlin' } },
            { key: 'price', range: { lte: 10 } },
            { key: 'tags', match: { value: 'a' } },
          ],
          min_count: 2,
        },
      }),
    ).toEqual([1]);
  });

  test('has_id, is_empty and is_null', async ({ qdrant: { client } }) => {
    expect(await ids(client, { must: [{ has_id: [2, 4, 99] }] })).toEqual([2, 4]);
    expect(await ids(client, { must: [{ is_empty: { key: 'tags' } }] })).toEqual([3, 5, 6]);
    expect(await ids(client, { must: [{ is_null: { key: 'note' } }] })).toEqual([2]);
    expect(await ids(client, { must: [{ is_null: { key: 'discount' } }] })).toEqual([4]);
  });

  test('values_count', async ({ qdrant: { client } }) => {
    expect(await ids(client, { must: [{ key: 'tags', values_count: { gte: 2 } }] })).toEqual([1, 4]);
  });

  test('nested keys with dots and []', async ({ qdrant: { client } }) => {
    expect(await ids(client, { must: [{ key: 'owner.age', range: { gte: 40 } }] })).toEqual([2, 3]);
    expect(await ids(client, { must: [{ key: 'items[].sku', match: { value: 'y' } }] })).toEqual([5]);
  });

  test('nested object filters match within one array element', async ({ qdrant: { client } }) => {
    const filter: Filter = {
      must: [
        {
          nested: {
            key: 'items',
            filter: {
              must: [
                { key: 'sku', match: { value: 'x' } },
                { key: 'qty', range: { gte: 5 } },
              ],
            },
          },
        },
      ],
    };
    expect(await ids(client, filter)).toEqual([6]);
    // Without `nested`, conditions may be met by different elements.
    expect(
      await ids(client, {
        must: [
          { key: 'items[].sku', match: { value: 'x' } },
          { key: 'items[].qty', range: { gte: 5 } },
        ],
      }),
    ).toEqual([5, 6]);
  });

  test('full-text match on an unindexed field', async ({ qdrant: { client } }) => {
    expect(await ids(client, { must: [{ key: 'note', match: { text: 'brown' } }] })).toEqual([1]);
  });

  test('nested boolean clauses', async ({ qdrant: { client } }) => {
    const filter: Filter = {
      must: [
        {
          should: [
            { key: 'city', match: { value: 'Berlin' } },
            { key: 'city', match: { value: 'London' } },
          ],
        },
        { must_not: [{ has_id: [4] }] },
      ],
    };
    expect(await ids(client, filter)).toEqual([1, 3]);
  });

  test('count agrees with the filter', async ({ qdrant: { client } }) => {
    expect((await client.count(c, { filter: { must: [{ key: 'city', match: { value: 'Berlin' } }] }, exact: true })).count).toBe(2);
    expect((await client.count(c, { exact: true })).count).toBe(6);
  });
});
