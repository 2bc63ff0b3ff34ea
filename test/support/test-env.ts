import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { databaseUrl, RUN_ID, TEST_DB_PREFIX, withAdmin } from './postgres-template.js';

export interface TestEnv {
  /** Environment variables pointing at this file's isolated resources. */
  readonly env: Record<string, string>;
  readonly config: Config;
  readonly id: string;
  readonly backends: ReturnType<typeof inject<'stack'>>['backends'];
  /** Owner URL of this file's own database. */
  readonly databaseUrl: string | undefined;
  /** Drops this file's database. */
  cleanup(): Promise<void>;
}

/** A fresh random AES key ring for tests. */
export function testKeyRing(ids: readonly string[] = ['k1']): string {
  return ids.map((id) => `${id}:${randomBytes(32).toString('base64')}`).join(',');
}

/**
 * Isolated resources for one test file: its own PostgreSQL database (cloned
 * from the migrated template), MongoDB database, Qdrant collection prefix and
 * Redis key prefix, on the stores the global setup started.
 */
export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const stack = inject('stack');
  const id = `${RUN_ID}_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    LOG_LEVEL: 'silent',
    PLATFORM_ENV: 'test',
    BCRYPT_COST: '4',
    PLATFORM_ENCRYPTION_KEYS: testKeyRing(),
    REDIS_KEY_PREFIX: `t${id}:`.slice(0, 32),
    QDRANT_COLLECTION_PREFIX: `t${id}_`,
  };
  let dbUrl: string | undefined;
  if (stack.urls.postgres) {
    const name = `${TEST_DB_PREFIX}${id}`;
    await withAdmin(stack.urls.postgres, (c) =>
      c.query(stack.postgresTemplate ? `CREATE DATABASE ${name} TEMPLATE ${stack.postgresTemplate}` : `CREATE DATABASE ${name}`),
    );
    dbUrl = databaseUrl(stack.urls.postgres, name);
    env.DATABASE_URL = dbUrl;
    // platform_app shares the admin's password where the server wants one (see migrate-template.ts).
    const appUrl = new URL(databaseUrl(stack.urls.postgres, name, 'platform_app'));
    appUrl.password = new URL(stack.urls.postgres).password;
    env.DATABASE_APP_URL = appUrl.toString();
  }
  if (stack.urls.mongo) {
    const url = new URL(stack.urls.mongo);
    url.pathname = `/t${id}`;
    env.MONGODB_URI = url.toString();
  }
  if (stack.urls.qdrant) env.QDRANT_URL = stack.urls.qdrant;
  if (stack.urls.redis) env.REDIS_URL = stack.urls.redis;
  Object.assign(env, overrides);
  const config = loadConfig(env);
  return {
    env,
    config,
    id,
    backends: stack.backends,
    databaseUrl: dbUrl,
    cleanup: async () => {
      if (stack.urls.postgres && dbUrl) {
        await withAdmin(stack.urls.postgres, (c) => c.query(`DROP DATABASE IF EXISTS ${TEST_DB_PREFIX}${id} WITH (FORCE)`)).catch(() => undefined);
      }
    },
  };
}
