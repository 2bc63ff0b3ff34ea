import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { bootstrapPlatform } from '../../../src/flows/bootstrap-platform.js';
import { createPlatform } from '../../../src/platform.js';
import { QdrantConnection } from '../../../src/qdrant/qdrant-connection.js';
import { knowledgeCollectionName } from '../../../src/qdrant/knowledge-collection.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { type PostgresHarness } from '../../support/postgres-harness.js';
import { runCli } from '../../support/run-cli.js';
import { test } from '../../support/fixtures.js';

// Each test spawns the CLI two or three times (a few seconds each on a loaded machine).
describe('platform-data knowledge CLI', { timeout: 120_000 }, () => {
  let org: string;
  let viewer: string;

  test.beforeAll(async ({ postgres: h }) => {
    const ctx = await h.tenant();
    org = ctx.organizationId;
    viewer = await h.user();
    await h.member(org, viewer, 'viewer');
    await using platform = createPlatform(h.t.config, { stores: ['mongo', 'qdrant', 'redis'] });
    const results = await bootstrapPlatform(platform, { waitMs: 20_000 });
    expect(results.every((r) => r.status === 'provisioned')).toBe(true);
  });
  test.afterAll(async ({ postgres: h }) => {
    await using platform = createPlatform(h.t.config, { stores: ['qdrant', 'redis'] });
    await platform.start();
    await platform
      .resolve(QdrantConnection)
      .client.deleteCollection(knowledgeCollectionName(h.t.config.qdrant.collectionPrefix))
      .catch(() => undefined);
    const redis = platform.resolve(RedisConnection).client;
    const keys = await redis.keys(`${h.t.config.redis.keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
  });

  const cli = (h: PostgresHarness, args: string[]) => runCli(['knowledge', ...args], { env: h.t.env, timeoutMs: 90_000 });

  test('imports a folder, indexes it in-process, and a second import changes nothing', async ({ postgres: h }) => {
    const first = await cli(h, ['import', 'docs/demo-knowledge', '--org', org]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('imported 4 files: 4 new, 0 updated, 0 unchanged');
    expect(first.stdout).toMatch(/indexed 4 \(\d+ chunks\), failed 0, still pending 0/);

    const again = await cli(h, ['import', 'docs/demo-knowledge/refund-policy.md', 'docs/demo-knowledge', '--org', org, '--json']);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout) as { files: number; created: number; unchanged: number; indexed: number };
    expect(summary).toMatchObject({ files: 4, created: 0, unchanged: 4, indexed: 0 });
  });

  test('searches as any member and prints JSON hits, best first', async ({ postgres: h }) => {
    const result = await cli(h, ['search', 'How long are audit events kept?', '--org', org, '--user', viewer, '--json', '--limit', '2']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const hits = JSON.parse(result.stdout) as Array<{ title: string; text: string; score: number }>;
    expect(hits).toHaveLength(2);
    expect(hits[0]?.title).toBe('Data retention and privacy');
    const text = await cli(h, ['search', 'refund', '--org', org]);
    expect(text.stdout).toMatch(/^score\s+title/);
    expect(text.stdout).toContain('Refund policy');
  });

  test('reindexes every document; a viewer may not, and an unknown organization is one clear line', async ({ postgres: h }) => {
    const result = await cli(h, ['reindex', '--org', org]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('reindexing 4 documents');
    expect(result.stdout).toMatch(/indexed 4 \(\d+ chunks\), failed 0, still pending 0/);
    const denied = await cli(h, ['reindex', '--org', org, '--user', viewer]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error: .*knowledge:write/);
    const unknown = await cli(h, ['search', 'x', '--org', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('not found');
  });
});
