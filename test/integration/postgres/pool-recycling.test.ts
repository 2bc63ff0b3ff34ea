import 'reflect-metadata';
import { sql } from 'slonik';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { startPostgresHarness, type PostgresHarness } from '../../support/postgres-seed.js';
import { requireStores } from '../../support/require-stores.js';

const backendPid = sql.type(z.object({ pid: z.number() }))`SELECT pg_backend_pid() AS pid`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Connection recycling (PG_POOL_MAX_LIFETIME_SECONDS) and validation of idle connections on checkout
 * (PG_POOL_IDLE_VALIDATION): a backend's pid (pg_backend_pid(), PostgreSQL manual §9.26) names the
 * server connection a pooled call ran on.
 */
describe.skipIf(!requireStores('postgres'))('PostgreSQL pools: connection lifetime and idle validation', () => {
  let h: PostgresHarness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it.each([
    { lifetime: '2', replaced: true },
    { lifetime: '0', replaced: false },
  ])('PG_POOL_MAX_LIFETIME_SECONDS=$lifetime: a connection past its lifetime is replaced ($replaced), a younger one reused', async ({ lifetime, replaced }) => {
    h = await startPostgresHarness({ PG_POOL_SIZE: '1', PG_POOL_MAX_LIFETIME_SECONDS: lifetime, PG_POOL_IDLE_VALIDATION: 'off' });
    const app = h.postgres.appPool;
    const first = await app.oneFirst(backendPid);
    expect(await app.oneFirst(backendPid)).toBe(first);
    // Past the lifetime and Slonik's +10 % jitter, well within the pool's 10 s idle timeout.
    await sleep(2_500);
    const later = await app.oneFirst(backendPid);
    if (replaced) expect(later).not.toBe(first);
    else expect(later).toBe(first);
  });

  it('never hands a caller an idle connection the server has closed: the check replaces it, on both pools', async () => {
    h = await startPostgresHarness({ PG_POOL_SIZE: '1', PG_POOL_IDLE_VALIDATION: 'on', PG_POOL_IDLE_VALIDATION_AFTER_MS: '0' });
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
