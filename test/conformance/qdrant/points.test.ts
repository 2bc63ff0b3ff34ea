import type { QdrantClient } from '@qdrant/js-client-rest';
import { describe, expect } from 'vitest';
import { expectQdrantError, uniqueCollection, type QdrantFixture } from './qdrant-conformance-kit.js';
import { test } from '../../support/fixtures.js';

async function collection(qdrant: QdrantFixture, client: QdrantClient, prefix: string, distance: 'Cosine' | 'Euclid' | 'Dot' = 'Euclid'): Promise<string> {
  const n = uniqueCollection(prefix);
  qdrant.track(n);
  await client.createCollection(n, { vectors: { size: 4, distance } });
  return n;
}

function byId<T extends { id: unknown }>(records: T[]): T[] {
  return [...records].sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

describe('points', () => {
  test('upserts in the points and batch forms and retrieves them exactly', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_upsert');
    const first = await client.upsert(c, {
      wait: true,
      points: [
        { id: 1, vector: [0.1, 0.2, 0.3, 0.4], payload: { name: 'one' } },
        { id: 2, vector: [1, 2, 3, 4] },
      ],
    });
    expect(first.status).toBe('completed');
    expect(typeof first.operation_id).toBe('number');

    await client.upsert(c, {
      wait: true,
      batch: {
        ids: [3, 4],
        vectors: [
          [0, 0, 0, 1],
          [5, 6, 7, 8],
        ],
        payloads: [{ name: 'three' }, null],
      },
    });

    const records = byId(await client.retrieve(c, { ids: [1, 2, 3, 4, 99], with_vector: true }));
    expect(records).toEqual([
      { id: 1, payload: { name: 'one' }, vector: [0.1, 0.2, 0.3, 0.4] },
      { id: 2, payload: {}, vector: [1, 2, 3, 4] },
      { id: 3, payload: { name: 'three' }, vector: [0, 0, 0, 1] },
      { id: 4, payload: {}, vector: [5, 6, 7, 8] },
    ]);
    expect((await client.count(c)).count).toBe(4);
  });

  test('replaces a point on a second upsert of the same id', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_replace');
    await client.upsert(c, { points: [{ id: 7, vector: [1, 1, 1, 1], payload: { a: 1, b: 2 } }] });
    await client.upsert(c, { points: [{ id: 7, vector: [2, 2, 2, 2], payload: { c: 3 } }] });
    const [record] = await client.retrieve(c, { ids: [7], with_vector: true });
    expect(record).toEqual({ id: 7, payload: { c: 3 }, vector: [2, 2, 2, 2] });
  });

  test("rejects a vector of the wrong size with Qdrant's text", async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_dim');
    const message = await expectQdrantError(client.upsert(c, { wait: true, points: [{ id: 1, vector: [1, 2, 3] }] }), 400);
    expect(message).toBe('Wrong input: Vector dimension error: expected dim: 4, got 3');
    expect((await client.count(c)).count).toBe(0);
  });

  test('normalizes UUID ids and rejects other strings', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_uuid');
    await client.upsert(c, { wait: true, points: [{ id: '936DA01F9ABD4d9d80C702AF85C822A8', vector: [1, 0, 0, 0] }] });
    const [record] = await client.retrieve(c, { ids: ['936da01f-9abd-4d9d-80c7-02af85c822a8'] });
    expect(record?.id).toBe('936da01f-9abd-4d9d-80c7-02af85c822a8');

    const message = await expectQdrantError(client.upsert(c, { wait: true, points: [{ id: 'not-a-uuid', vector: [1, 0, 0, 0] }] }), 400);
    expect(message).toMatch(/^Format error in JSON body: value not-a-uuid is not a valid point ID/);
  });

  test('keeps unsigned 64-bit ids exact', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_u64');
    const big = 18446744073709551615n;
    const points = [{ id: big as unknown as number, vector: [1, 0, 0, 0] }];
    await client.upsert(c, { wait: true, points });
    const { points: page } = await client.scroll(c, { limit: 10 });
    expect(page.map((p) => p.id)).toEqual([big]);
  });

  test('answers 404 for a point that does not exist', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_nopoint');
    const message = await expectQdrantError(client.api().getPoint({ collection_name: c, id: 999 }), 404);
    expect(message).toBe('Not found: No point with id 999 found');
  });

  test('gets a single point with payload and vector', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_getpoint');
    await client.upsert(c, { wait: true, points: [{ id: 5, vector: [1, 2, 3, 4], payload: { k: 'v' } }] });
    const response = await client.api().getPoint({ collection_name: c, id: 5 });
    expect(response.data.result).toEqual({ id: 5, payload: { k: 'v' }, vector: [1, 2, 3, 4] });
  });

  test('deletes by ids and by filter', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_delete');
    await client.upsert(c, {
      wait: true,
      points: [1, 2, 3, 4, 5, 6].map((id) => ({ id, vector: [id, 0, 0, 0], payload: { group: id % 2 === 0 ? 'even' : 'odd' } })),
    });
    const byIds = await client.delete(c, { wait: true, points: [1, 42] });
    expect(byIds.status).toBe('completed');
    await client.delete(c, { wait: true, filter: { must: [{ key: 'group', match: { value: 'even' } }] } });
    const { points } = await client.scroll(c, { limit: 10 });
    expect(points.map((p) => p.id)).toEqual([3, 5]);
  });

  test('sets, overwrites, deletes and clears payload', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_payload');
    await client.upsert(c, {
      wait: true,
      points: [
        { id: 1, vector: [1, 0, 0, 0], payload: { a: 1, b: { c: 2 } } },
        { id: 2, vector: [0, 1, 0, 0], payload: { a: 2 } },
      ],
    });
    const payloadOf = async (id: number): Promise<unknown> => (await client.retrieve(c, { ids: [id] }))[0]?.payload;

    await client.setPayload(c, { payload: { d: 'new', a: 10 }, points: [1], wait: true });
    expect(await payloadOf(1)).toEqual({ a: 10, b: { c: 2 }, d: 'new' });

    await client.overwritePayload(c, { payload: { only: true }, points: [1], wait: true });
    expect(await payloadOf(1)).toEqual({ only: true });

    await client.setPayload(c, { payload: { tag: 'x' }, filter: { must: [{ key: 'a', match: { value: 2 } }] }, wait: true });
    expect(await payloadOf(2)).toEqual({ a: 2, tag: 'x' });

    await client.deletePayload(c, { keys: ['tag'], points: [2], wait: true });
    expect(await payloadOf(2)).toEqual({ a: 2 });

    await client.clearPayload(c, { points: [2], wait: true });
    expect(await payloadOf(2)).toEqual({});
  });

  test('bumps a point version when it changes', async ({ qdrant, qdrant: { client } }) => {
    const c = await collection(qdrant, client, 'conf_version');
    await client.upsert(c, {
      wait: true,
      points: [
        { id: 1, vector: [1, 0, 0, 0] },
        { id: 2, vector: [0, 1, 0, 0] },
      ],
    });
    const before = await client.query(c, { query: [1, 0, 0, 0], limit: 2 });
    const v1 = before.points.find((p) => p.id === 1)?.version ?? -1;
    await client.setPayload(c, { payload: { touched: true }, points: [1], wait: true });
    const after = await client.query(c, { query: [1, 0, 0, 0], limit: 2 });
    expect(after.points.find((p) => p.id === 1)?.version).toBeGreaterThan(v1);
    expect(after.points.find((p) => p.id === 2)?.version).toBe(before.points.find((p) => p.id === 2)?.version);
  });
});
