import { describe, expect } from 'vitest';
import { uniqueCollection } from './qdrant-conformance-kit.js';
import { test } from '../../support/fixtures.js';

let c: string;
const TOTAL = 250;

test.beforeAll(async ({ qdrant, qdrant: { client } }) => {
  c = qdrant.track(uniqueCollection('conf_scroll'));
  await client.createCollection(c, { vectors: { size: 2, distance: 'Cosine' } });
  // Inserted out of order: scroll must still walk ids ascending.
  const points = Array.from({ length: TOTAL }, (_, i) => TOTAL - i).map((id) => ({
    id,
    vector: [1, id],
    payload: { even: id % 2 === 0, rank: id },
  }));
  await client.upsert(c, { wait: true, points });
});

describe('scroll and count', () => {
  test('pages through more than 100 points with next_page_offset', async ({ qdrant: { client } }) => {
    const seen: unknown[] = [];
    const offsets: unknown[] = [];
    let offset: string | number | undefined | null;
    do {
      const page = await client.scroll(c, { limit: 100, ...(offset === undefined || offset === null ? {} : { offset }), with_payload: false });
      seen.push(...page.points.map((p) => p.id));
      offset = page.next_page_offset as string | number | null | undefined;
      offsets.push(offset);
    } while (offset !== null && offset !== undefined);
    expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    expect(offsets).toEqual([101, 201, null]);
  });

  test('scrolls with a filter and default payload', async ({ qdrant: { client } }) => {
    const page = await client.scroll(c, { filter: { must: [{ key: 'even', match: { value: true } }] }, limit: 3 });
    expect(page.points).toEqual([
      { id: 2, payload: { even: true, rank: 2 } },
      { id: 4, payload: { even: true, rank: 4 } },
      { id: 6, payload: { even: true, rank: 6 } },
    ]);
    expect(page.next_page_offset).toBe(8);
  });

  test('counts exactly, with and without a filter', async ({ qdrant: { client } }) => {
    expect((await client.count(c)).count).toBe(TOTAL);
    expect((await client.count(c, { filter: { must: [{ key: 'rank', range: { gt: 200 } }] } })).count).toBe(50);
  });

  test('orders integer ids before UUIDs', async ({ qdrant: { client } }) => {
    const mixed = uniqueCollection('conf_scroll_mixed');
    await client.createCollection(mixed, { vectors: { size: 2, distance: 'Dot' } });
    try {
      await client.upsert(mixed, {
        wait: true,
        points: [
          { id: 'ffffffff-0000-0000-0000-000000000000', vector: [1, 0] },
          { id: 10, vector: [1, 0] },
          { id: '00000000-0000-0000-0000-000000000001', vector: [1, 0] },
          { id: 2, vector: [1, 0] },
        ],
      });
      const { points } = await client.scroll(mixed, { limit: 10 });
      expect(points.map((p) => p.id)).toEqual([2, 10, '00000000-0000-0000-0000-000000000001', 'ffffffff-0000-0000-0000-000000000000']);
    } finally {
      await client.deleteCollection(mixed);
    }
  });

  test('orders by an indexed payload field', async ({ qdrant: { client } }) => {
    await client.createPayloadIndex(c, { field_name: 'rank', field_schema: 'integer', wait: true });
    const page = await client.scroll(c, { limit: 3, order_by: { key: 'rank', direction: 'desc' }, with_payload: false });
    expect(page.points.map((p) => p.id)).toEqual([250, 249, 248]);
  });
});
