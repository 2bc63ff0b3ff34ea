import 'reflect-metadata';
import pg from 'pg';
import { describe, expect } from 'vitest';
import { StoreUnavailableError } from '../../src/errors.js';
import { expectSignedIn } from '../../src/flows/auth/expect-signed-in.js';
import { createTenantContext } from '../../src/tenancy/tenant-context.js';
import { startPgBouncer } from '../../src/testing/start-pgbouncer.js';
import { startPostgresPair } from '../../src/testing/start-postgres-pair.js';
import { migrateTemplate } from '../../src/testing/start-test-stack.js';
import { PASSWORD } from '../support/auth-fixtures.js';
import { sleep } from '../support/sleep.js';
import { requireStores } from '../support/require-stores.js';
import { test as base } from '../support/fixtures.js';

const client = { ip: '198.51.100.7', userAgent: 'vitest pg failover' };

function withDatabase(url: string, database: string, user = 'postgres'): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  u.username = user;
  return u.toString();
}

// A private primary + streaming standby (PostgreSQL 15 binaries) and a PgBouncer in front, all on private ports: this file's own servers.
const test = base
  // oxlint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern; empty: none
  .extend('pair', { scope: 'file' }, async ({}, { onCleanup }) => {
    const pair = await startPostgresPair();
    onCleanup(() => pair.stop());
    const admin = new pg.Client({ connectionString: pair.primaryUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE platform');
    await admin.end();
    await migrateTemplate(withDatabase(pair.primaryUrl, 'platform'));
    return pair;
  })
  .extend('bouncer', { scope: 'file' }, async ({ pair }, { onCleanup }) => {
    const bouncer = await startPgBouncer({ server: pair.primaryAddress });
    onCleanup(() => bouncer.stop());
    return bouncer;
  });
test.override('envOverrides', ({ pair, bouncer }) => ({
  DATABASE_URL: withDatabase(pair.primaryUrl, 'platform'),
  DATABASE_APP_URL: `postgres://platform_app@${bouncer.address}/platform`,
  PG_POOLER: 'transaction',
  DATABASE_REPLICA_URL: withDatabase(pair.standbyUrl, 'platform', 'platform_app'),
  // A dead primary is noticed within these bounds, not after TCP's own timeouts.
  STORE_CONNECT_TIMEOUT_MS: '2000',
  PG_STATEMENT_TIMEOUT_MS: '2000',
}));

describe.skipIf(!requireStores('postgres', 'redis'))('PostgreSQL: streaming standby, replica reads and failover through PgBouncer', () => {
  test('health names the pooler, the primary and the standby; audit reads come from the standby', async ({ flow: h, pair, bouncer }) => {
    const health = await h.platform.connection('postgres').health();
    expect(health.nodes?.map((n) => [n.role, n.status, n.address])).toEqual([
      ['pooler', 'up', bouncer.address],
      ['primary', 'up', pair.primaryAddress],
      ['standby', 'up', pair.standbyAddress],
    ]);
    const u = await h.user();
    const signedIn = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    // The standby replays the primary's WAL: the sign-in event shows there within a bounded wait.
    let found = false;
    for (let i = 0; i < 100 && !found; i++) {
      found = (await h.auditEvents(ctx)).some((e) => e.eventType.startsWith('auth.login'));
      if (!found) await sleep(100);
    }
    expect(found).toBe(true);
    // …and it was the standby that answered: it is in recovery and cannot take a write.
    const standby = new pg.Client({ connectionString: withDatabase(pair.standbyUrl, 'platform') });
    await standby.connect();
    try {
      expect((await standby.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r).toBe(true);
      expect((await standby.query('SELECT count(*) FROM sessions WHERE id = $1', [signedIn.sessionId])).rows[0]).toEqual({ count: '1' });
      await expect(standby.query(`CREATE TABLE nope (id int)`)).rejects.toMatchObject({ code: '25006' }); // read_only_sql_transaction
    } finally {
      await standby.end();
    }
  });

  test('primary lost: sign-in fails typed and bounded; after promotion and a PgBouncer re-point it works again', async ({ flow: h, pair, bouncer }) => {
    const u = await h.user();
    expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    await pair.crashPrimary();
    const failedAt = performance.now();
    const error = await h.signIn.login(u.email, PASSWORD, client).then(
      () => undefined,
      (e: unknown) => e,
    );
    const failMs = performance.now() - failedAt;
    expect(error).toBeInstanceOf(StoreUnavailableError);
    // Bounded by the configured timeouts (2 s connect / 3 s query), generous for a loaded machine.
    expect(failMs).toBeLessThan(30_000);

    const promotedAt = performance.now();
    await pair.promoteStandby();
    await bouncer.retarget(pair.standbyAddress);
    let signedIn = false;
    let attempts = 0;
    while (!signedIn && performance.now() - promotedAt < 60_000) {
      attempts++;
      signedIn = await h.signIn.login(u.email, PASSWORD, client).then(
        () => true,
        (e: unknown) => {
          // During the switch every failure is typed; nothing hangs past the bounds.
          expect(e).toBeInstanceOf(StoreUnavailableError);
          return false;
        },
      );
      if (!signedIn) await sleep(100);
    }
    const recoverMs = performance.now() - promotedAt;
    expect(signedIn).toBe(true);
    // The new primary answers as one; the old one is down.
    const roles = (await h.platform.connection('postgres').health()).nodes ?? [];
    expect(roles.find((n) => n.address === pair.primaryAddress)?.status).toBe('down');
    expect(roles.find((n) => n.address === pair.standbyAddress)?.detail).toMatch(/answers as primary/);
    process.stderr.write(
      `[pg-failover] primary crashed: sign-in failed typed after ${failMs.toFixed(0)} ms; promotion + PgBouncer re-point → sign-in works again after ${recoverMs.toFixed(0)} ms (${attempts} attempts)\n`,
    );
  });
});
