import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS, ConfigError, loadConfig, redactConfig } from '../../src/index.js';
import { ownerDatabaseUrl } from '../../src/config.js';
import { testKeyRing } from '../support/test-env.js';

describe('loadConfig', () => {
  it('applies the docker-compose defaults', () => {
    const config = loadConfig({});
    expect(config.postgres.url).toBe(CONFIG_DEFAULTS.DATABASE_URL);
    expect(config.postgres.poolSize).toBe(20);
    expect(config.postgres.appUrl).toBe('postgres://platform_app@127.0.0.1:5432/platform');
    expect(config.mongo.uri).toBe(CONFIG_DEFAULTS.MONGODB_URI);
    expect(config.qdrant.url).toBe(CONFIG_DEFAULTS.QDRANT_URL);
    expect(config.redis.url).toBe(CONFIG_DEFAULTS.REDIS_URL);
    expect(config.connectTimeoutMs).toBe(5_000);
    expect(config.auth.bcryptCost).toBe(12);
    expect(config.auth.refreshReuseGraceSeconds).toBe(10);
    expect(config.retention.auditDays).toBe(90);
    expect(config.encryption.ephemeral).toBe(true);
  });

  it('needs no owner URL when DATABASE_APP_URL is set; owner work then names DATABASE_URL in a ConfigError', () => {
    const app = 'postgres://platform_app:app-secret@db.internal:5432/platform';
    const config = loadConfig({ DATABASE_APP_URL: app });
    expect(config.postgres.url).toBeUndefined();
    expect(config.postgres.appUrl).toBe(app);
    expect(JSON.stringify(config)).not.toContain('app-secret');
    expect(() => ownerDatabaseUrl(config, 'migrations')).toThrow(ConfigError);
    try {
      ownerDatabaseUrl(config, 'migrations');
    } catch (error) {
      expect((error as ConfigError).issues).toEqual([expect.objectContaining({ path: 'DATABASE_URL', message: expect.stringContaining('migrations') })]);
    }
    // Both set: the owner is there for the commands that need it.
    const both = loadConfig({ DATABASE_URL: 'postgres://owner@db.internal/platform', DATABASE_APP_URL: app });
    expect(ownerDatabaseUrl(both, 'migrations')).toBe('postgres://owner@db.internal/platform');
  });

  it('reads and coerces variables', () => {
    const config = loadConfig({
      PG_POOL_SIZE: '7',
      LOG_LEVEL: 'debug',
      REDIS_KEY_PREFIX: 'app:',
      QDRANT_API_KEY: 'qk',
      PLATFORM_ENCRYPTION_KEYS: testKeyRing(['a', 'b']),
    });
    expect(config.postgres.poolSize).toBe(7);
    expect(config.logLevel).toBe('debug');
    expect(config.redis.keyPrefix).toBe('app:');
    expect(config.qdrant.apiKey?.reveal()).toBe('qk');
    expect(config.encryption.keys.map((k) => k.id)).toEqual(['a', 'b']);
    expect(config.encryption.activeKeyId).toBe('b');
  });

  it('reports every invalid variable at once in one ConfigError', () => {
    let error: unknown;
    try {
      loadConfig({
        DATABASE_URL: 'mysql://u:hunter2@db/x',
        PG_POOL_SIZE: 'lots',
        LOG_LEVEL: 'chatty',
        REDIS_URL: 'not a url',
        STORE_CONNECT_TIMEOUT_MS: '-5',
        PLATFORM_ENCRYPTION_KEYS: 'k1:c2hvcnQ=',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => i.path).sort();
    expect(issues).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'PG_POOL_SIZE', 'PLATFORM_ENCRYPTION_KEYS', 'REDIS_URL', 'STORE_CONNECT_TIMEOUT_MS']);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    expect((error as Error).message).not.toContain('hunter2');
  });

  it("names the allowed range of a number out of range, negative, fractional or not a number (the bounds are the schema's own)", () => {
    const issues = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
      }
      return [];
    };
    expect(issues({ PG_POOL_SIZE: '-3', BCRYPT_COST: '99', LOCKOUT_THRESHOLD: '2.5', LOCKOUT_SECONDS: 'abc' })).toEqual([
      'PG_POOL_SIZE: must be a whole number from 1 to 1000, got -3',
      'BCRYPT_COST: must be a whole number from 4 to 15, got 99',
      'LOCKOUT_THRESHOLD: must be a whole number from 1 to 100, got 2.5',
      'LOCKOUT_SECONDS: must be a whole number from 1 to 2592000',
    ]);
  });

  it('reads the pool lifetime (default 1 h, 0 = none) and idle validation (default on, after 1 s), refusing values out of range', () => {
    expect(loadConfig({}).postgres).toMatchObject({ maxLifetimeSeconds: 3_600, idleValidationAfterMs: 1_000 });
    expect(loadConfig({ PG_POOL_MAX_LIFETIME_SECONDS: '0', PG_POOL_IDLE_VALIDATION: 'off' }).postgres).toMatchObject({
      maxLifetimeSeconds: 0,
      idleValidationAfterMs: undefined,
    });
    expect(loadConfig({ PG_POOL_IDLE_VALIDATION_AFTER_MS: '0' }).postgres.idleValidationAfterMs).toBe(0);
    const error = (() => {
      try {
        loadConfig({ PG_POOL_MAX_LIFETIME_SECONDS: '-1', PG_POOL_IDLE_VALIDATION: 'sometimes', PG_POOL_IDLE_VALIDATION_AFTER_MS: '600001' });
      } catch (e) {
        return e as ConfigError;
      }
      return expect.fail('accepted');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues.map((i) => i.path).toSorted()).toEqual(['PG_POOL_IDLE_VALIDATION', 'PG_POOL_IDLE_VALIDATION_AFTER_MS', 'PG_POOL_MAX_LIFETIME_SECONDS']);
  });

  it('requires a key ring in production and an active key that exists', () => {
    expect(() => loadConfig({ PLATFORM_ENV: 'production' })).toThrow(/PLATFORM_ENCRYPTION_KEYS: required in production/);
    expect(() => loadConfig({ PLATFORM_ENCRYPTION_KEYS: testKeyRing(['a']), PLATFORM_ENCRYPTION_ACTIVE_KEY_ID: 'zz' })).toThrow(ConfigError);
  });

  it('redacts every secret in printouts', () => {
    const ring = testKeyRing(['a']);
    const config = loadConfig({
      DATABASE_URL: 'postgres://owner:s3cr3t-pg@db:5432/app',
      MONGODB_URI: 'mongodb://m:s3cr3t-mongo@mongo:27017/app',
      REDIS_URL: 'redis://:s3cr3t-redis@cache:6379/0',
      QDRANT_API_KEY: 's3cr3t-qdrant',
      PLATFORM_ENCRYPTION_KEYS: ring,
    });
    const material = ring.split(':')[1] ?? '';
    for (const printed of [JSON.stringify(config), inspect(config, { depth: 10 }), JSON.stringify(redactConfig(config)), String(config.qdrant.apiKey)]) {
      expect(printed).not.toMatch(/s3cr3t/);
      expect(printed).not.toContain(material);
    }
    expect(JSON.stringify(config)).toContain('postgres://owner:***@db:5432/app');
    // The values themselves are still usable.
    expect(config.postgres.url).toContain('s3cr3t-pg');
  });
});
