import { createServer, type Server, type Socket } from 'node:net';
import { describe, expect } from 'vitest';
import { createPlatform, loadConfig, StoreUnavailableError } from '../../src/index.js';
import { PostgresConnection } from '../../src/postgres/index.js';
import { test } from '../support/fixtures.js';

/** A TCP server that accepts connections and never answers. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('platform', () => {
  test('starts, reports health of PostgreSQL and Redis, and stops idempotently', async ({ testEnv: t }) => {
    const platform = createPlatform(t.config, { stores: ['postgres', 'redis'] });
    await platform.start();
    const health = await platform.health();
    expect(health.status).toBe('up');
    const pg = health.stores.find((s) => s.store === 'postgres');
    const redis = health.stores.find((s) => s.store === 'redis');
    expect(pg?.version).toMatch(/^\d+\.\d+/);
    expect(redis?.version).toMatch(/^\d+\.\d+/);
    expect(pg?.latencyMs).toBeGreaterThan(0);
    await platform.resolve(PostgresConnection).ping();
    await platform.stop();
    await platform.stop();
    const after = await platform.health();
    expect(after.status).toBe('down');
  });

  test('supports await using', async ({ testEnv: t }) => {
    let connection: PostgresConnection | undefined;
    {
      await using platform = createPlatform(t.config, { stores: ['postgres'] });
      await platform.start();
      connection = platform.resolve(PostgresConnection);
      await connection.ping();
    }
    await expect(connection.ping()).rejects.toThrow(/not started/);
  });

  const refusedUrls = {
    postgres: { DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/x' },
    redis: { REDIS_URL: 'redis://:hunter2@127.0.0.1:1/0' },
    mongo: { MONGODB_URI: 'mongodb://u:hunter2@127.0.0.1:1/x?directConnection=true' },
    qdrant: { QDRANT_URL: 'http://127.0.0.1:1', QDRANT_API_KEY: 'hunter2' },
  } as const;

  for (const [store, env] of Object.entries(refusedUrls)) {
    test(`gives StoreUnavailableError for a refused ${store} port within the timeout, without the password`, async ({ testEnv: t }) => {
      const config = loadConfig({ ...t.env, ...env, STORE_CONNECT_TIMEOUT_MS: '2000' });
      const platform = createPlatform(config, { stores: [store as 'postgres'] });
      const started = Date.now();
      const error = await platform.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).store).toBe(store);
      expect((error as Error).message).not.toContain('hunter2');
      // Bounded by the configured timeout (not the drivers' ~30 s defaults), with room for a loaded machine.
      expect(Date.now() - started).toBeLessThan(15_000);
      await platform.stop();
    });
  }

  for (const store of ['postgres', 'redis', 'mongo', 'qdrant'] as const) {
    test(`gives StoreUnavailableError for a ${store} port that accepts but never answers`, async ({ testEnv: t }) => {
      const hole = await blackHole();
      try {
        const url = {
          postgres: { DATABASE_URL: `postgres://u@127.0.0.1:${hole.port}/x` },
          redis: { REDIS_URL: `redis://127.0.0.1:${hole.port}/0` },
          mongo: { MONGODB_URI: `mongodb://127.0.0.1:${hole.port}/x?directConnection=true` },
          qdrant: { QDRANT_URL: `http://127.0.0.1:${hole.port}` },
        }[store];
        const config = loadConfig({ ...t.env, ...url, STORE_CONNECT_TIMEOUT_MS: '1500' });
        const platform = createPlatform(config, { stores: [store] });
        const started = Date.now();
        const error = await platform.start().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(StoreUnavailableError);
        // Bounded by the configured timeout (not the drivers' ~30 s defaults), with room for a loaded machine.
        expect(Date.now() - started).toBeLessThan(15_000);
        await platform.stop();
      } finally {
        await hole.close();
      }
    });
  }
});
