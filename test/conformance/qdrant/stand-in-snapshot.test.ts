import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QdrantStandIn } from '../../../src/testing/qdrant-stand-in.js';

// Stand-in only: snapshots are the stand-in's own feature, not Qdrant behaviour.
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'qdrant-stand-in-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('QdrantStandIn snapshot', () => {
  it('saves on stop and restores on start', async () => {
    const snapshotPath = join(directory, 'qdrant.json');
    const first = await QdrantStandIn.start({ snapshotPath });
    const client = new QdrantClient({ url: first.url, checkCompatibility: false });
    await client.createCollection('kept', { vectors: { size: 3, distance: 'Cosine' } });
    await client.createPayloadIndex('kept', { field_name: 'tag', field_schema: 'keyword', wait: true });
    await client.upsert('kept', {
      points: [
        { id: 1, vector: [0.1, 0.2, 0.3], payload: { tag: 'a', big: 12345678901234567890n as unknown as number } },
        { id: 'f47ac10b-58cc-4372-a567-0e02b2c3d479', vector: [3, 0, 4], payload: { tag: 'b' } },
      ],
    });
    const before = await client.query('kept', { query: [0.1, 0.2, 0.3], with_payload: true, with_vector: true });
    await first.stop();
    await first.stop(); // idempotent
    expect(JSON.parse(await readFile(snapshotPath, 'utf8'))).toHaveProperty('collections');

    await using second = await QdrantStandIn.start({ snapshotPath });
    const again = new QdrantClient({ url: second.url, checkCompatibility: false });
    expect(await again.query('kept', { query: [0.1, 0.2, 0.3], with_payload: true, with_vector: true })).toEqual(before);
    expect((await again.getCollection('kept')).payload_schema).toEqual({ tag: { data_type: 'keyword', points: 2 } });
    const next = await again.upsert('kept', { points: [{ id: 2, vector: [1, 1, 1] }] });
    expect(next.operation_id).toBeGreaterThan(3);
  });

  it('accepts Bearer tokens as well as the api-key header', async () => {
    await using standIn = await QdrantStandIn.start({ apiKey: 'sesame' });
    const response = await fetch(`${standIn.url}/collections`, { headers: { authorization: 'Bearer sesame' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ result: { collections: [] }, status: 'ok' });
  });
});
