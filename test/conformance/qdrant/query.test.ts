import type { QdrantClient } from '@qdrant/js-client-rest';
import { describe, expect } from 'vitest';
import { expectQdrantError, uniqueCollection, type QdrantFixture } from './qdrant-conformance-kit.js';
import { test } from '../../support/fixtures.js';

type Distance = 'Cosine' | 'Euclid' | 'Dot' | 'Manhattan';

// Points on distinct directions so no two scores tie for the queries below.
const POINTS = [
  { id: 1, vector: [1, 0, 0, 0], payload: { color: 'red', n: 1 } },
  { id: 2, vector: [0.9, 0.1, 0, 0], payload: { color: 'blue', n: 2 } },
  { id: 3, vector: [0.7, 0.7, 0, 0], payload: { color: 'red', n: 3 } },
  { id: 4, vector: [0, 1, 0, 0], payload: { color: 'blue', n: 4 } },
  { id: 5, vector: [0, 0, 1, 0], payload: { color: 'red', n: 5 } },
  { id: 6, vector: [-1, 0, 0, 0.5], payload: { color: 'green', n: 6 } },
];

async function seeded(qdrant: QdrantFixture, client: QdrantClient, prefix: string, distance: Distance): Promise<string> {
  const n = uniqueCollection(prefix);
  qdrant.track(n);
  await client.createCollection(n, { vectors: { size: 4, distance } });
  await client.upsert(n, { wait: true, points: POINTS });
  return n;
}

function cosine(a: number[], b: number[]): number {
  const dot = a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);
  const norm = (v: number[]): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return dot / (norm(a) * norm(b));
}

describe('query', () => {
  test('returns the true nearest neighbours by cosine, best first, within filter and limit', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_cos', 'Cosine');
    const query = [1, 0.2, 0, 0];
    const { points } = await client.query(c, {
      query,
      filter: { must: [{ key: 'color', match: { value: 'red' } }] },
      limit: 2,
    });
    expect(points.map((p) => p.id)).toEqual([1, 3]);
    expect(points[0]?.score).toBeCloseTo(cosine(query, [1, 0, 0, 0]), 5);
    expect(points[1]?.score).toBeCloseTo(cosine(query, [0.7, 0.7, 0, 0]), 5);
    // No payload or vector unless asked for.
    expect(points[0]).not.toHaveProperty('payload');
    expect(points[0]).not.toHaveProperty('vector');
  });

  test('accepts the {nearest} form and skips with offset', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_nearest', 'Cosine');
    const all = await client.query(c, { query: { nearest: [1, 0.2, 0, 0] }, limit: 6 });
    expect(all.points.map((p) => p.id)).toEqual([2, 1, 3, 4, 5, 6]);
    const skipped = await client.query(c, { query: [1, 0.2, 0, 0], limit: 2, offset: 2 });
    expect(skipped.points.map((p) => p.id)).toEqual([3, 4]);
  });

  test('drops results below score_threshold', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_threshold', 'Cosine');
    const { points } = await client.query(c, { query: [1, 0, 0, 0], score_threshold: 0.7, limit: 10 });
    expect(points.map((p) => p.id)).toEqual([1, 2, 3]);
    expect(points.every((p) => p.score >= 0.7)).toBe(true);
  });

  test('orders Euclid by ascending distance and reports the distance as score', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_euclid', 'Euclid');
    const { points } = await client.query(c, { query: [1, 0, 0, 0], limit: 3 });
    expect(points.map((p) => p.id)).toEqual([1, 2, 3]);
    expect(points[0]?.score).toBeCloseTo(0, 6);
    expect(points[1]?.score).toBeCloseTo(Math.sqrt(0.01 + 0.01), 5);
    const near = await client.query(c, { query: [1, 0, 0, 0], score_threshold: 0.5, limit: 10 });
    expect(near.points.map((p) => p.id)).toEqual([1, 2]);
  });

  test('orders Dot by descending raw dot product', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_dot', 'Dot');
    const { points } = await client.query(c, { query: [2, 1, 0, 0], limit: 3 });
    // 0.7·2 + 0.7·1 = 2.1, then 1·2 = 2, then 0.9·2 + 0.1·1 = 1.9.
    expect(points.map((p) => p.id)).toEqual([3, 1, 2]);
    const scores = points.map((p) => p.score);
    [2.1, 2, 1.9].forEach((expected, i) => expect(scores[i]).toBeCloseTo(expected, 5));
  });

  test('orders Manhattan by ascending distance', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_manhattan', 'Manhattan');
    const { points } = await client.query(c, { query: [0, 1, 0, 0], limit: 2 });
    expect(points.map((p) => p.id)).toEqual([4, 3]);
    expect(points[1]?.score).toBeCloseTo(0.7 + 0.3, 5);
  });

  test('selects payload with include lists and exclude selectors', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_payload', 'Cosine');
    const included = await client.query(c, { query: [1, 0, 0, 0], limit: 1, with_payload: ['color'] });
    expect(included.points[0]?.payload).toEqual({ color: 'red' });
    const excluded = await client.query(c, { query: [1, 0, 0, 0], limit: 1, with_payload: { exclude: ['color'] } });
    expect(excluded.points[0]?.payload).toEqual({ n: 1 });
    const everything = await client.query(c, { query: [1, 0, 0, 0], limit: 1, with_payload: true });
    expect(everything.points[0]?.payload).toEqual({ color: 'red', n: 1 });
  });

  test('returns stored Cosine vectors normalized', async ({ qdrant, qdrant: { client } }) => {
    const c = uniqueCollection('conf_q_norm');
    qdrant.track(c);
    await client.createCollection(c, { vectors: { size: 4, distance: 'Cosine' } });
    await client.upsert(c, { wait: true, points: [{ id: 1, vector: [3, 4, 0, 0] }] });
    const { points } = await client.query(c, { query: [1, 1, 0, 0], with_vector: true });
    const vector = points[0]?.vector as number[];
    expect(vector).toHaveLength(4);
    expect(vector[0]).toBeCloseTo(0.6, 6);
    expect(vector[1]).toBeCloseTo(0.8, 6);
    expect(points[0]?.score).toBeCloseTo(cosine([1, 1, 0, 0], [3, 4, 0, 0]), 5);
  });

  test('queries by point id, leaving that point out', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_byid', 'Cosine');
    const { points } = await client.query(c, { query: 1, limit: 2 });
    expect(points.map((p) => p.id)).toEqual([2, 3]);
  });

  test('runs query batches in order', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_batch', 'Cosine');
    const results = await client.queryBatch(c, {
      searches: [
        { query: [0, 1, 0, 0], limit: 1 },
        { query: [0, 0, 1, 0], limit: 1, with_payload: true },
        { query: [1, 0, 0, 0], limit: 2, filter: { must_not: [{ key: 'color', match: { value: 'red' } }] } },
      ],
    });
    expect(results.map((r) => r.points.map((p) => p.id))).toEqual([[4], [5], [2, 4]]);
    expect(results[1]?.points[0]?.payload).toEqual({ color: 'red', n: 5 });
  });

  test('without a query, returns points in id order', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_noquery', 'Cosine');
    const { points } = await client.query(c, { filter: { must: [{ key: 'color', match: { value: 'blue' } }] }, with_payload: true });
    expect(points.map((p) => p.id)).toEqual([2, 4]);
    expect(points[0]?.payload).toEqual({ color: 'blue', n: 2 });
  });

  test('searches a named vector with `using`', async ({ qdrant, qdrant: { client } }) => {
    const c = uniqueCollection('conf_q_named');
    qdrant.track(c);
    await client.createCollection(c, { vectors: { a: { size: 2, distance: 'Dot' }, b: { size: 3, distance: 'Euclid' } } });
    await client.upsert(c, {
      wait: true,
      points: [
        { id: 1, vector: { a: [1, 0], b: [0, 0, 9] } },
        { id: 2, vector: { a: [0, 1], b: [0, 0, 1] } },
      ],
    });
    expect((await client.query(c, { query: [1, 0], using: 'a' })).points.map((p) => p.id)).toEqual([1, 2]);
    expect((await client.query(c, { query: [0, 0, 0], using: 'b' })).points.map((p) => p.id)).toEqual([2, 1]);
    const withVectors = await client.query(c, { query: [1, 0], using: 'a', limit: 1, with_vector: ['b'] });
    expect(withVectors.points[0]?.vector).toEqual({ b: [0, 0, 9] });
    const message = await expectQdrantError(client.query(c, { query: [1, 0], using: 'missing' }), 400);
    expect(message).toBe('Wrong input: Not existing vector name error: missing');
  });

  test('rejects a query vector of the wrong size and a zero limit', async ({ qdrant, qdrant: { client } }) => {
    const c = await seeded(qdrant, client, 'conf_q_errors', 'Cosine');
    expect(await expectQdrantError(client.query(c, { query: [1, 0, 0] }), 400)).toBe('Wrong input: Vector dimension error: expected dim: 4, got 3');
    expect(await expectQdrantError(client.query(c, { query: [1, 0, 0, 0], limit: 0 }), 422)).toBe(
      'Validation error in JSON body: [internal.limit: value 0 invalid, must be 1 or larger]',
    );
  });
});
