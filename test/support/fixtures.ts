import 'reflect-metadata';
import mongoose from 'mongoose';
import { test as base } from 'vitest';
import type { StoreName } from '../../src/errors.js';
import { mongoTarget, uniqueDatabaseName, type MongoDatabaseFixture } from '../conformance/mongo/mongo-target.js';
import { clientFor, type QdrantFixture } from '../conformance/qdrant/qdrant-conformance-kit.js';
import { qdrantTarget } from '../conformance/qdrant/qdrant-target.js';
import { startFlowHarness } from './flow-harness.js';
import { startMongoPlatform } from './mongo-test-platform.js';
import { startPostgresHarness } from './postgres-harness.js';
import { dropRedisKeys, startPrivacyPlatform } from './privacy-fixture.js';
import { startPrivateRedis } from './private-redis.js';
import { assertStores } from './require-stores.js';
import { createTestEnv } from './test-env.js';

/**
 * The one way a test file gets its stores: `import { test } from '../support/fixtures.js'`
 * and name what a test needs, `test('…', async ({ flow }) => …)`. Every fixture
 * is file-scoped: set up once, for the first test (or `test.beforeAll`) that names
 * it, and torn down after the file's last test, dependents first (the platform
 * stops before its database is dropped). A test that names nothing starts nothing.
 *
 * Options are fixtures too; set them once at the top of a file
 * (`test.override('envOverrides', { MINIMUM_AGE: '13' })`), or, for a second set of
 * resources in the same file, extend: `const zeroGrace = test.extend('envOverrides', { scope: 'file' }, {...})`.
 * The gate stays `describe.skipIf(!requireStores(…))` (test/support/require-stores.ts); a
 * fixture whose stores the run lacks fails naming them (assertStores), never with a driver error.
 */
export const test = base
  /** Environment variables laid over the file's isolated environment (createTestEnv's `overrides`). */
  .extend('envOverrides', { scope: 'file' }, {} as Readonly<Record<string, string>>)
  /** The stores the `flow` platform starts. */
  .extend('flowStores', { scope: 'file' }, ['postgres', 'redis'] as readonly StoreName[])
  /** Whether the `mongo` platform provisions its collections and indexes before the first test. */
  .extend('provisionMongo', { scope: 'file' }, true as boolean)
  /** Whether the `mongoDatabase` stand-in (when no real server was found) runs as a replica set. */
  .extend('mongoReplicaSet', { scope: 'file' }, false as boolean)
  /** A redis-server of the file's own, for tests that flush, stop or freeze Redis (the shared one serves other files). */
  // oxlint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern; empty: none
  .extend('privateRedis', { scope: 'file' }, async ({}, { onCleanup }) => {
    const redis = await startPrivateRedis();
    onCleanup(() => redis.stop());
    return redis;
  })
  /** The file's own PostgreSQL database (from the migrated template), MongoDB database, Qdrant and Redis prefixes; dropped at the end. */
  .extend('testEnv', { scope: 'file' }, async ({ envOverrides }, { onCleanup }) => {
    const t = await createTestEnv({ ...envOverrides });
    onCleanup(() => t.cleanup());
    return t;
  })
  /** A postgres-only platform on `testEnv`, with seeding helpers (owner pool). */
  .extend('postgres', { scope: 'file' }, async ({ testEnv }, { onCleanup }) => {
    assertStores('postgres', ['postgres']);
    const harness = await startPostgresHarness(testEnv);
    onCleanup(() => harness.platform.stop());
    return harness;
  })
  /** A platform with `flowStores` (postgres + redis) on `testEnv`, the auth flows resolved, a capturing notifier. */
  .extend('flow', { scope: 'file' }, async ({ testEnv, flowStores }, { onCleanup }) => {
    assertStores('flow', flowStores);
    const harness = await startFlowHarness(testEnv, flowStores);
    onCleanup(() => harness.platform.stop());
    return harness;
  })
  /** A MongoDB-only platform on `testEnv` (provisioned unless `provisionMongo` is false). */
  .extend('mongo', { scope: 'file' }, async ({ testEnv, provisionMongo }, { onCleanup }) => {
    assertStores('mongo', ['mongo']);
    const harness = await startMongoPlatform(testEnv, provisionMongo);
    onCleanup(() => harness.platform.stop());
    return harness;
  })
  /** A four-store platform on `testEnv`, MongoDB and Qdrant provisioned; its Redis keys (queues have no TTL) are dropped at the end. */
  .extend('privacy', { scope: 'file' }, async ({ testEnv }, { onCleanup }) => {
    assertStores('privacy', ['postgres', 'redis', 'mongo', 'qdrant']);
    const platform = await startPrivacyPlatform(testEnv.config);
    onCleanup(async () => {
      await dropRedisKeys(platform);
      await platform.stop();
    });
    return { t: testEnv, platform };
  })
  /** Conformance: a client on the MongoDB the run found (else a stand-in for this file) and a fresh database, dropped at the end. */
  .extend('mongoDatabase', { scope: 'file' }, async ({ mongoReplicaSet }, { onCleanup }): Promise<MongoDatabaseFixture> => {
    const target = await mongoTarget({ replicaSet: mongoReplicaSet });
    const client = await new mongoose.mongo.MongoClient(target.uri).connect();
    const dbName = uniqueDatabaseName('conf');
    const db = client.db(dbName);
    onCleanup(async () => {
      await db.dropDatabase().catch(() => undefined);
      await client.close();
      await target.stop();
    });
    return { target, client, db, dbName };
  })
  /** Conformance: a client on the Qdrant the run found (else a stand-in for this file); `track(name)` deletes a collection at the end. */
  // oxlint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern; empty: none
  .extend('qdrant', { scope: 'file' }, async ({}, { onCleanup }): Promise<QdrantFixture> => {
    const target = await qdrantTarget();
    const client = clientFor(target);
    const created: string[] = [];
    onCleanup(async () => {
      for (const name of created) await client.deleteCollection(name).catch(() => undefined);
      await target.stop();
    });
    return {
      target,
      client,
      track(name: string): string {
        created.push(name);
        return name;
      },
    };
  });
