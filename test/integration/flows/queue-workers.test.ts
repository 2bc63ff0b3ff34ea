import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { bootstrapPlatform } from '../../../src/flows/bootstrap-platform.js';
import { KnowledgeIngestion } from '../../../src/flows/knowledge/knowledge-ingestion.js';
import { QueueWorkers } from '../../../src/flows/queue-workers.js';
import { SignUpService } from '../../../src/flows/auth/sign-up-service.js';
import { KnowledgeDocumentRepository } from '../../../src/mongo/repositories/knowledge-document-repository.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { KNOWLEDGE_INGESTION_OPTIONS } from '../../../src/tokens.js';
import { test } from '../../support/fixtures.js';

describe('QueueWorkers', () => {
  let platform: Platform;

  test.beforeAll(async ({ testEnv: t }) => {
    platform = createPlatform(t.config);
    // Every pending document counts as stuck at once, so the reconciler acts immediately.
    platform.container.register(KNOWLEDGE_INGESTION_OPTIONS, { useValue: { stuckAfterMs: 0 } });
    const results = await bootstrapPlatform(platform, { waitMs: 20_000 });
    expect(results.every((r) => r.status === 'provisioned')).toBe(true);
  });
  test.afterAll(async () => {
    await platform?.stop();
  });

  test('re-creates an ingestion job lost with Redis from MongoDB state, walking organizations from PostgreSQL', async ({ testEnv: t }) => {
    const { user, organization } = await platform.resolve(SignUpService).createAccount({
      email: `owner-${t.id}@example.com`,
      password: 'Correct-Horse-Battery-9',
      organizationName: 'Workers',
      ageConfirmed: true,
      emailVerified: true,
    });
    const ctx = createTenantContext({ organizationId: organization.id, userId: user.id, role: 'owner' });
    const ingested = await platform
      .resolve(KnowledgeIngestion)
      .ingestDocument(ctx, { source: 'lost.md', title: 'Lost', content: 'A document whose job was lost when Redis restarted.' });
    expect(ingested.jobId).toBeDefined();

    // Redis loses everything of this platform (its key prefix is unique to this test file).
    const redis = platform.resolve(RedisConnection).client;
    const keys = await redis.keys(`${t.config.redis.keyPrefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.unlink(...keys);

    const first = await platform.resolve(QueueWorkers).start({ reconcileEveryMs: 0 });
    expect(first.ingestion).toBe(1);
    const documents = platform.resolve(KnowledgeDocumentRepository);
    const deadline = Date.now() + 30_000;
    let status = (await documents.get(ctx, ingested.document.id))?.status;
    while (status !== 'indexed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await documents.get(ctx, ingested.document.id))?.status;
    }
    expect(status).toBe('indexed');
    await platform.resolve(QueueWorkers).stop();
  }, 60_000);
});
