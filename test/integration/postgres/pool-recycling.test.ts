import 'reflect-metadata';
import { sql, type DatabasePool } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';
import { sleep } from '../../support/sleep.js';

const backendPid = sql.type(z.object({ pid: z.number() }))`SELECT pg_backend_pid() AS pid`;

/**
 * Connection recycling (PG_POOL_MAX_LIFETIME_SECONDS) and validation of idle connections on checkout
 * (PG_POOL_IDLE_VALIDATION): a backend's pid (pg_backend_pid(), PostgreSQL manual §9.26) names the
 * server connection a pooled call ran on.
 */
// Each its own database and platform: the pool settings are read at start. One connection per pool, so a reuse is visible.
const recycled = test.extend('envOverrides', { scope: 'file' }, { PG_POOL_SIZE: '1', PG_POOL_MAX_LIFETIME_SECONDS: '2', PG_POOL_IDLE_VALIDATION: 'off' });
const unlimited = test.extend('envOverrides', { scope: 'file' }, { PG_POOL_SIZE: '1', PG_POOL_MAX_LIFETIME_SECONDS: '0', PG_POOL_IDLE_VALIDATION: 'off' });
const validated = test.extend('envOverrides', { scope: 'file' }, { PG_POOL_SIZE: '1', PG_POOL_IDLE_VALIDATION: 'on', PG_POOL_IDLE_VALIDATION_AFTER_MS: '0' });

describe.skipIf(!requireStores('postgres'))('PostgreSQL pools: connection lifetime and idle validation', () => {
  const reuseThenWait = async (app: DatabasePool): Promise<{ first: number; later: number }> => {
    const first = await app.oneFirst(backendPid);
    expect(await app.oneFirst(backendPid)).toBe(first);
    // Past the lifetime and Slonik's +10 % jitter, well within the pool's 10 s idle timeout.
    await sleep(2_500);
    return { first, later: await app.oneFirst(backendPid) };
  };

  recycled('PG_POOL_MAX_LIFETIME_SECONDS=2: a connection past its lifetime is replaced, a younger one reused', async ({ postgres: h }) => {
    const { first, later } = await reuseThenWait(h.postgres.appPool);
    expect(later).not.toBe(first);
  });

  unlimited('PG_POOL_MAX_LIFETIME_SECONDS=0: the same connection serves after the same wait', async ({ postgres: h }) => {
    const { first, later } = await reuseThenWait(h.postgres.appPool);
    expect(later).toBe(first);
  });

  validated('never hands a caller an idle connection the server has closed: the check replaces it, on both pools', async ({ postgres: h }) => {
    const ctx = await h.tenant();
    const users = h.platform.resolve(UserRepository);
    const app = h.postgres.appPool;
    const owner = h.postgres.ownerPool;
    for (let round = 0; round < 10; round++) {
      // Both pools of the application role hold one idle connection each: the Slonik pool and the hot-path pool.
      const before = await app.oneFirst(backendPid);
      expect((await users.getById(ctx.userId))?.id).toBe(ctx.userId);
      // Two steps, so pg_terminate_backend only ever sees these pids (in one WHERE the planner may call it on any row).
      const idle = await owner.anyFirst(sql.type(z.object({ pid: z.number() }))`
        SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND usename = 'platform_app' AND state = 'idle'`);
      const terminated = await owner.anyFirst(sql.type(z.object({ pid: z.number() }))`
        SELECT p AS pid FROM unnest(${sql.array(idle, 'int4')}) AS p WHERE pg_terminate_backend(p)`);
      expect(terminated).toContain(before);
      // At once, before the pools may have read the closes: each call still answers.
      const [user, current, after] = await Promise.all([users.getById(ctx.userId), users.getCurrent(ctx), app.oneFirst(backendPid)]);
      expect(user?.id).toBe(ctx.userId);
      expect(current.id).toBe(ctx.userId);
      expect(after).not.toBe(before);
    }
  });
});
