import { QdrantClient } from '@qdrant/js-client-rest';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import { describe, expect, inject, it } from 'vitest';
import { createPlatform, SignUpService } from '../../../src/index.js';
import { createTestEnvironment, type TestEnvironment } from '../../../src/testing/index.js';
import { withAdmin } from '../../../src/testing/postgres-admin.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { requireStores } from '../../support/require-stores.js';

const stack = inject('stack');

async function databaseExists(name: string): Promise<boolean> {
  return withAdmin(stack.urls.postgres as string, async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
}

async function redisKeys(prefix: string): Promise<string[]> {
  const redis = new Redis(stack.urls.redis as string);
  try {
    // Every page of the cursor: one SCAN call looks at COUNT slots only, and the shared server holds
    // every other test file's keys too (a single page missed this file's key under the full suite).
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000);
      keys.push(...page);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  } finally {
    redis.disconnect();
  }
}

async function mongoDatabases(): Promise<string[]> {
  const connection = await mongoose.createConnection(stack.urls.mongo as string, { serverSelectionTimeoutMS: 5_000 }).asPromise();
  try {
    const { databases } = await connection.db!.admin().listDatabases();
    return databases.map((d) => d.name);
  } finally {
    await connection.close();
  }
}

async function qdrantCollections(prefix: string): Promise<string[]> {
  const { collections } = await new QdrantClient({ url: stack.urls.qdrant as string, checkCompatibility: false }).getCollections();
  return collections.map((c) => c.name).filter((n) => n.startsWith(prefix));
}

/** Writes something of `t` into every store: a user (PostgreSQL), a key (Redis), a document (MongoDB), a collection (Qdrant). */
async function writeEverywhere(t: TestEnvironment, email: string): Promise<void> {
  await using platform = createPlatform(t.config, { stores: ['postgres', 'redis'] });
  await platform.start();
  await platform.resolve(SignUpService).signUp({ email, password: PASSWORD, organizationName: 'Isolation', ageConfirmed: true });
  const redis = new Redis(t.env.REDIS_URL as string);
  await redis.set(`${t.redisKeyPrefix}probe`, '1');
  redis.disconnect();
  const mongo = await mongoose.createConnection(t.env.MONGODB_URI as string, { serverSelectionTimeoutMS: 5_000 }).asPromise();
  await mongo.db!.collection('probe').insertOne({ email });
  await mongo.close();
  await new QdrantClient({ url: t.env.QDRANT_URL as string, checkCompatibility: false }).createCollection(`${t.qdrantCollectionPrefix}probe`, {
    vectors: { size: 4, distance: 'Cosine' },
  });
}

describe.skipIf(!requireStores('postgres', 'redis', 'mongo', 'qdrant'))('createTestEnvironment (platform-data/testing)', () => {
  it('gives each environment its own database, key prefix, MongoDB database and collection prefix; cleanup removes all four', async () => {
    const a = await createTestEnvironment(stack);
    const b = await createTestEnvironment(stack);
    try {
      expect(new Set([a.id, b.id]).size).toBe(2);
      expect(a.redisKeyPrefix).not.toBe(b.redisKeyPrefix);
      // The template carries the package's migrations: sign-up works at once.
      await writeEverywhere(a, 'same@example.test');
      // The same email in the other environment is no conflict: the databases are separate.
      await writeEverywhere(b, 'same@example.test');

      const dbA = new URL(a.databaseUrl as string).pathname.slice(1);
      expect(await databaseExists(dbA)).toBe(true);
      expect(await redisKeys(a.redisKeyPrefix)).toContain(`${a.redisKeyPrefix}probe`);
      expect(await mongoDatabases()).toContain(a.mongoDatabase);
      expect(await qdrantCollections(a.qdrantCollectionPrefix)).toEqual([`${a.qdrantCollectionPrefix}probe`]);

      await a.cleanup();
      expect(await databaseExists(dbA)).toBe(false);
      expect(await redisKeys(a.redisKeyPrefix)).toEqual([]);
      expect(await mongoDatabases()).not.toContain(a.mongoDatabase);
      expect(await qdrantCollections(a.qdrantCollectionPrefix)).toEqual([]);
      // b is untouched by a's cleanup.
      expect(await databaseExists(new URL(b.databaseUrl as string).pathname.slice(1))).toBe(true);
      expect(await redisKeys(b.redisKeyPrefix)).toContain(`${b.redisKeyPrefix}probe`);
      expect(await qdrantCollections(b.qdrantCollectionPrefix)).toHaveLength(1);
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
    // Idempotent.
    await b.cleanup();
  });

  it('applies overrides and rejects an invalid one with the variable named', async () => {
    await using t = await createTestEnvironment(stack, { overrides: { LOCKOUT_THRESHOLD: '3' } });
    expect(t.config.auth.lockoutThreshold).toBe(3);
    await expect(createTestEnvironment(stack, { overrides: { BCRYPT_COST: '99' } })).rejects.toThrow(/BCRYPT_COST/);
  });
});
