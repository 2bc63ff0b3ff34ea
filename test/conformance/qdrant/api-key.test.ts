import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor, expectQdrantError } from './qdrant-conformance-kit.js';
import { qdrantTarget, type QdrantTarget } from './qdrant-target.js';

let target: QdrantTarget;

beforeAll(async () => {
  target = await qdrantTarget({ withApiKey: true });
});

afterAll(async () => {
  await target.stop();
});

describe('api key', () => {
  it('rejects requests without the key and accepts them with it', async (context) => {
    if (target.apiKey === undefined) context.skip();
    const anonymous = new QdrantClient({ url: target.url, checkCompatibility: false });
    expect(await expectQdrantError(anonymous.getCollections(), 401)).toBe('Must provide an API key or an Authorization bearer token');

    const wrong = new QdrantClient({ url: target.url, checkCompatibility: false, headers: { 'api-key': `${target.apiKey ?? ''}-wrong` } });
    expect(await expectQdrantError(wrong.getCollections(), 401)).toBe('Invalid API key or JWT');

    await expect(clientFor(target).getCollections()).resolves.toHaveProperty('collections');
    // The version probe stays open, so clients can check compatibility before authenticating.
    await expect(anonymous.versionInfo()).resolves.toHaveProperty('version');
  });
});
