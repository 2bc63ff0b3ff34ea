import { randomBytes } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import { Cluster, Redis } from 'ioredis';
import mongoose from 'mongoose';
import { loadConfig, type Config } from '../config.js';
import { scanKeys, unlinkKeys } from '../redis/scan-keys.js';
import { databaseUrl, withAdmin } from './postgres-admin.js';
import { TEST_DATABASE_PREFIX, type TestStackInfo } from './start-test-stack.js';

export interface TestEnvironmentOptions {
  /** Variables set on top of the environment's own (e.g. `BCRYPT_COST`, `LOCKOUT_THRESHOLD`). */
  readonly overrides?: Readonly<Record<string, string>>;
}

export interface TestEnvironment extends AsyncDisposable {
  /** Identifies this environment within the run (part of every name below). */
  readonly id: string;
  /** Variables pointing at this environment's own resources: pass them to `loadConfig`, or to a child process. */
  readonly env: Readonly<Record<string, string>>;
  /** `loadConfig(env)`. */
  readonly config: Config;
  /** Owner URL of this environment's own PostgreSQL database (undefined without PostgreSQL). */
  readonly databaseUrl: string | undefined;
  /** The MongoDB database, Redis key prefix and Qdrant collection prefix of this environment. */
  readonly mongoDatabase: string;
  readonly redisKeyPrefix: string;
  readonly qdrantCollectionPrefix: string;
  /**
   * Removes everything of this environment: drops its PostgreSQL database and
   * MongoDB database, deletes its Redis keys (SCAN + UNLINK on its prefix) and
   * its Qdrant collections. Stop the platform first. Each store is bounded
   * (a few seconds) and a store that cannot be reached is skipped. Idempotent.
   */
  cleanup(): Promise<void>;
}

/** A fresh random AES-256 key ring (`PLATFORM_ENCRYPTION_KEYS`) for tests. */
export function testKeyRing(ids: readonly string[] = ['k1']): string {
  return ids.map((id) => `${id}:${randomBytes(32).toString('base64')}`).join(',');
}

const CLEANUP_TIMEOUT_MS = 5_000;

async function deleteRedisKeys(config: Config): Promise<void> {
  const options = { lazyConnect: true, connectTimeout: CLEANUP_TIMEOUT_MS, commandTimeout: CLEANUP_TIMEOUT_MS, maxRetriesPerRequest: 0 } as const;
  const nodes = config.redis.clusterNodes;
  const client = nodes
    ? new Cluster([...nodes], { lazyConnect: true, redisOptions: { ...options, lazyConnect: false }, clusterRetryStrategy: () => null })
    : new Redis(config.redis.url, { ...options, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    // The prefix is [a-zA-Z0-9:_-] (config.ts), so it holds no glob character.
    for await (const keys of scanKeys(client, `${config.redis.keyPrefix}*`, 1000)) await unlinkKeys(client, keys);
  } finally {
    client.disconnect();
  }
}

async function dropMongoDatabase(uri: string): Promise<void> {
  const connection = mongoose.createConnection(uri, { serverSelectionTimeoutMS: CLEANUP_TIMEOUT_MS, connectTimeoutMS: CLEANUP_TIMEOUT_MS });
  try {
    await connection.asPromise();
    await connection.dropDatabase();
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function deleteQdrantCollections(url: string, prefix: string, apiKey: string | undefined): Promise<void> {
  const client = new QdrantClient({ url, apiKey, timeout: CLEANUP_TIMEOUT_MS, checkCompatibility: false });
  const { collections } = await client.getCollections();
  for (const { name } of collections.filter((c) => c.name.startsWith(prefix))) await client.deleteCollection(name);
}

/**
 * Isolated resources for one test file on the stores a {@link startTestStack}
 * run started: its own PostgreSQL database cloned from the migrated template,
 * its own MongoDB database, Redis key prefix and Qdrant collection prefix.
 * `cleanup()` (or `await using`) removes them.
 *
 * @example
 * const t = await createTestEnvironment(inject('platformStack'));
 * const platform = await createPlatform(t.config);
 * afterAll(async () => { await platform.stop(); await t.cleanup(); });
 * @throws the driver's error when the template cannot be cloned; ConfigError when an override is invalid
 */
export async function createTestEnvironment(stack: TestStackInfo, options: TestEnvironmentOptions = {}): Promise<TestEnvironment> {
  const id = `${stack.runId}_${randomBytes(4).toString('hex')}`;
  const mongoDatabase = `t${id}`;
  const env: Record<string, string> = {
    LOG_LEVEL: 'silent',
    PLATFORM_ENV: 'test',
    // bcrypt's minimum cost: tests hash many passwords; production keeps BCRYPT_COST's default.
    BCRYPT_COST: '4',
    PLATFORM_ENCRYPTION_KEYS: testKeyRing(),
    REDIS_KEY_PREFIX: `t${id}:`.slice(0, 32),
    QDRANT_COLLECTION_PREFIX: `t${id}_`,
  };
  let ownerUrl: string | undefined;
  const admin = stack.urls.postgres;
  const database = `${TEST_DATABASE_PREFIX}${id}`;
  if (admin) {
    ownerUrl = databaseUrl(admin, database);
    env.DATABASE_URL = ownerUrl;
    // platform_app shares the admin's password where the server wants one (migrateTemplate).
    const appUrl = new URL(databaseUrl(admin, database, 'platform_app'));
    appUrl.password = new URL(admin).password;
    env.DATABASE_APP_URL = appUrl.toString();
  }
  if (stack.urls.mongo) {
    const url = new URL(stack.urls.mongo);
    url.pathname = `/${mongoDatabase}`;
    env.MONGODB_URI = url.toString();
  }
  if (stack.urls.qdrant) env.QDRANT_URL = stack.urls.qdrant;
  if (stack.urls.redis) env.REDIS_URL = stack.urls.redis;
  if (stack.redisClusterNodes) env.REDIS_CLUSTER_NODES = stack.redisClusterNodes;
  if (stack.postgresPooler && env.DATABASE_APP_URL) {
    // The owner (migrations, advisory locks, DDL) stays direct; the application role goes through the pooler.
    const pooled = new URL(env.DATABASE_APP_URL);
    pooled.host = stack.postgresPooler;
    env.DATABASE_APP_URL = pooled.toString();
    env.PG_POOLER = 'transaction';
  }
  Object.assign(env, options.overrides);
  // Checked before anything is created, so a bad override leaves nothing behind.
  const config = loadConfig(env);
  if (admin)
    await withAdmin(admin, (c) =>
      c.query(stack.postgresTemplate ? `CREATE DATABASE ${database} TEMPLATE ${stack.postgresTemplate}` : `CREATE DATABASE ${database}`),
    );

  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= Promise.allSettled([
      admin && ownerUrl ? withAdmin(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)) : undefined,
      env.MONGODB_URI ? dropMongoDatabase(env.MONGODB_URI) : undefined,
      env.REDIS_URL || env.REDIS_CLUSTER_NODES ? deleteRedisKeys(config) : undefined,
      env.QDRANT_URL ? deleteQdrantCollections(env.QDRANT_URL, config.qdrant.collectionPrefix, config.qdrant.apiKey?.reveal()) : undefined,
    ]).then(() => undefined));
  return {
    id,
    env,
    config,
    databaseUrl: ownerUrl,
    mongoDatabase,
    redisKeyPrefix: config.redis.keyPrefix,
    qdrantCollectionPrefix: config.qdrant.collectionPrefix,
    cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
}
