import type { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor, uniqueCollection } from './qdrant-conformance-kit.js';
import { qdrantTarget, type QdrantTarget } from './qdrant-target.js';

let target: QdrantTarget;
let client: QdrantClient;
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

async function ids(filter: Filter): Promise<unknown[]> {
  const { points } = await client.scroll(c, { filter, limit: 100, with_payload: false });
  return points.map((p) => p.id);
}

beforeAll(async () => {
  target = await qdrantTarget();
  client = clientFor(target);
  c = uniqueCollection('conf_filters');
  await client.createCollection(c, { vectors: { size: 2, distance: 'Dot' } });
  await client.upsert(c, { wait: true, points: PAYLOADS.map((payload, i) => ({ id: i + 1, vector: [1, i], payload })) });
});

afterAll(async () => {
  await client.deleteCollection(c).catch(() => undefined);
  await target.stop();
});

describe('filters', () => {
  it('match value, any and except', async () => {
    expect(await ids({ must: [{ key: 'city', match: { value: 'Berlin' } }] })).toEqual([1, 4]);
    expect(await ids({ must: [{ key: 'city', match: { any: ['Paris', 'Rome'] } }] })).toEqual([2, 5]);
    expect(await ids({ must: [{ key: 'city', match: { except: ['Berlin', 'Paris'] } }] })).toEqual([3, 5]);
    expect(await ids({ must: [{ key: 'tags', match: { value: 'b' } }] })).toEqual([1, 2]);
    expect(await ids({ must: [{ key: 'flag', match: { value: true } }] })).toEqual([6]);
  });

  it('range on numbers', async () => {
    expect(await ids({ must: [{ key: 'price', range: { gte: 20, lt: 40 } }] })).toEqual([2, 3]);
    expect(await ids({ must: [{ key: 'price', range: { gt: 30.5 } }] })).toEqual([4]);
  });

  it('must_not, should and min_should', async () => {
    expect(await ids({ must_not: [{ key: 'city', match: { value: 'Berlin' } }] })).toEqual([2, 3, 5, 6]);
    expect(
      await ids({
        should: [
          { key: 'city', match: { value: 'Paris' } },
          { key: 'price', range: { gte: 40 } },
        ],
      }),
    ).toEqual([2, 4]);
    expect(
      await ids({
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

  it('has_id, is_empty and is_null', async () => {
    expect(await ids({ must: [{ has_id: [2, 4, 99] }] })).toEqual([2, 4]);
    expect(await ids({ must: [{ is_empty: { key: 'tags' } }] })).toEqual([3, 5, 6]);
    expect(await ids({ must: [{ is_null: { key: 'note' } }] })).toEqual([2]);
    expect(await ids({ must: [{ is_null: { key: 'discount' } }] })).toEqual([4]);
  });

  it('values_count', async () => {
    expect(await ids({ must: [{ key: 'tags', values_count: { gte: 2 } }] })).toEqual([1, 4]);
  });

  it('nested keys with dots and []', async () => {
    expect(await ids({ must: [{ key: 'owner.age', range: { gte: 40 } }] })).toEqual([2, 3]);
    expect(await ids({ must: [{ key: 'items[].sku', match: { value: 'y' } }] })).toEqual([5]);
  });

  it('nested object filters match within one array element', async () => {
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
    expect(await ids(filter)).toEqual([6]);
    // Without `nested`, conditions may be met by different elements.
    expect(
      await ids({
        must: [
          { key: 'items[].sku', match: { value: 'x' } },
          { key: 'items[].qty', range: { gte: 5 } },
        ],
      }),
    ).toEqual([5, 6]);
  });

  it('full-text match on an unindexed field', async () => {
    expect(await ids({ must: [{ key: 'note', match: { text: 'brown' } }] })).toEqual([1]);
  });

  it('nested boolean clauses', async () => {
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
    expect(await ids(filter)).toEqual([1, 3]);
  });

  it('count agrees with the filter', async () => {
    expect((await client.count(c, { filter: { must: [{ key: 'city', match: { value: 'Berlin' } }] }, exact: true })).count).toBe(2);
    expect((await client.count(c, { exact: true })).count).toBe(6);
  });
});
