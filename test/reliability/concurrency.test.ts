import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import pg from 'pg';
import { sql } from 'slonik';
import { describe, expect, inject } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config.js';
import { ConflictError, InvalidCredentialsError, RateLimitedError } from '../../src/errors.js';
import { PasswordSignIn } from '../../src/flows/auth/password-sign-in.js';
import { RefreshRotation } from '../../src/flows/auth/refresh-rotation.js';
import { bootstrapPlatform } from '../../src/flows/bootstrap-platform.js';
import { createPlatform } from '../../src/platform.js';
import { DEFAULT_MIGRATIONS_DIRECTORY, Migrator } from '../../src/postgres/migrator.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { AuditWriter } from '../../src/postgres/repositories/audit-writer.js';
import { OrganizationRepository } from '../../src/postgres/repositories/organization-repository.js';
import { UserRepository } from '../../src/postgres/repositories/user-repository.js';
import { RateLimiter } from '../../src/redis/repositories/rate-limiter.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { LockoutPolicy } from '../../src/security/lockout-policy.js';
import { createTenantContext } from '../../src/tenancy/tenant-context.js';
import { databaseUrl, RUN_ID, TEST_DB_PREFIX, withAdmin } from '../support/postgres-template.js';
import { Figures } from './reliability-support.js';
import { PASSWORD } from '../support/auth-fixtures.js';
import { expectSignedIn } from '../../src/flows/auth/expect-signed-in.js';
import { requireStores } from '../support/require-stores.js';
import { test } from '../support/fixtures.js';

const figures = new Figures('concurrency');
const admin = inject('stack').urls.postgres;
const count = z.object({ n: z.number() });

/** True when the remaining balances, highest first, each continue from the previous one. */
function isSerial(ok: ReadonlyArray<{ amount: number; remaining: number }>, start: number): boolean {
  let balance = start;
  for (const step of [...ok].sort((a, b) => b.remaining - a.remaining)) {
    if (step.remaining !== balance - step.amount) return false;
    balance = step.remaining;
  }
  return true;
}

describe.skipIf(!requireStores('postgres', 'redis'))('concurrency: exact outcomes', () => {
  let rotation: RefreshRotation;
  let signIn: PasswordSignIn;
  let pgc: PostgresConnection;
  const emptyDatabases: string[] = [];

  test.beforeAll(async ({ flow: h }) => {
    rotation = h.platform.resolve(RefreshRotation);
    signIn = h.platform.resolve(PasswordSignIn);
    pgc = h.platform.resolve(PostgresConnection);
  });
  test.afterAll(async () => {
    if (admin) {
      await withAdmin(admin, async (c) => {
        for (const name of emptyDatabases) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    }
    await figures.flush();
  });

  async function emptyDatabase(): Promise<string> {
    if (!admin) throw new Error('no PostgreSQL');
    const name = `${TEST_DB_PREFIX}${RUN_ID}_relmig_${randomBytes(4).toString('hex')}`;
    await withAdmin(admin, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0`));
    emptyDatabases.push(name);
    return databaseUrl(admin, name);
  }

  test('100 concurrent refreshes of one refresh token rotate it exactly once (RefreshRotation.refresh)', async ({ flow: h }) => {
    const u = await h.user();
    const s = expectSignedIn(await signIn.login(u.email, PASSWORD, {}));
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => rotation.refresh(s.refreshToken, {})));
    const fulfilled = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const rejected = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    const winners = fulfilled.filter((r) => !r.replayed);
    const rows = await pgc.ownerPool.one(sql.type(z.object({ total: z.number(), rotated: z.number(), live: z.number() }))`
      SELECT count(*)::int AS total, count(*) FILTER (WHERE rotated_at IS NOT NULL)::int AS rotated,
             count(*) FILTER (WHERE rotated_at IS NULL AND revoked_at IS NULL)::int AS live
      FROM refresh_tokens WHERE session_id = ${s.sessionId}`);
    figures.set('a-refresh', {
      check: '100 concurrent `refresh` of one refresh token',
      measured: `${winners.length} rotation, ${fulfilled.length - winners.length} grace-window replays of the same successor, ${rejected.length} errors; ${rows.total} token rows (${rows.rotated} rotated, ${rows.live} live)`,
    });
    expect(rejected).toEqual([]);
    expect(winners).toHaveLength(1);
    expect(new Set(fulfilled.map((r) => r.refreshToken)).size).toBe(1);
    expect(rows).toEqual({ total: 2, rotated: 1, live: 1 });
    // The successor works once more; the original is spent.
    const next = await rotation.refresh(winners[0]!.refreshToken, {});
    expect(next.replayed).toBe(false);
  });

  test('50 parallel wrong passwords: at most the threshold are evaluated and counted, the lock starts at exactly the threshold (PasswordSignIn.login)', async ({
    flow: h,
  }) => {
    const threshold = h.platform.config.auth.lockoutThreshold;
    const u = await h.user();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => signIn.login(u.email, 'Wrong-password-123', {})));
    const invalid = results.filter((r) => r.status === 'rejected' && r.reason instanceof InvalidCredentialsError).length;
    const throttled = results.filter((r) => r.status === 'rejected' && r.reason instanceof RateLimitedError).length;
    expect(invalid + throttled).toBe(50);
    const user = await h.platform.resolve(UserRepository).getById(u.userId);
    await h.platform.resolve(AuditWriter).flush();
    const events = await pgc.ownerPool.any(sql.type(z.object({ failures: z.number(), locked: z.boolean(), reason: z.string() }))`
      SELECT (details->>'failures')::int AS failures, (details->>'locked')::boolean AS locked, details->>'reason' AS reason
      FROM audit_log WHERE actor_user_id = ${u.userId} AND event_type = 'auth.login.failed' ORDER BY 1`);
    const evaluated = events.filter((e) => e.reason === 'wrong_password');
    figures.set('b-lockout-flow', {
      check: `50 parallel wrong passwords for one account (threshold ${threshold})`,
      // How many the Redis throttle refuses first varies with scheduling; the invariants below do not.
      measured: `all 50 refused alike; ${evaluated.length} passwords evaluated (attempt reserved in Postgres before bcrypt), ${invalid - evaluated.length} refused as locked without evaluation; failed_login_count ${user?.failedLoginCount}; lock set at count ${evaluated.find((e) => e.locked)?.failures ?? '-'}`,
    });
    // Exactly the threshold of attempts reached bcrypt, counted 1..threshold; the rest found the lock.
    expect(user?.failedLoginCount).toBe(threshold);
    expect(evaluated.map((e) => e.failures)).toEqual(Array.from({ length: threshold }, (_, i) => i + 1));
    expect(events.filter((e) => e.reason !== 'wrong_password').every((e) => e.reason === 'locked' && e.locked)).toBe(true);
    // Locked from exactly the threshold on, never before.
    expect(evaluated.every((e) => e.locked === e.failures >= threshold)).toBe(true);
    expect(user?.lockedUntil?.getTime()).toBeGreaterThan(Date.now());
    // The right password is refused while locked (after the throttle is out of the way), like a wrong one.
    const { LoginThrottle } = await import('../../src/redis/repositories/login-throttle.js');
    await h.platform.resolve(LoginThrottle).reset({ email: u.email });
    await expect(signIn.login(u.email, PASSWORD, {})).rejects.toBeInstanceOf(InvalidCredentialsError);
  });

  test('50 parallel failures straight at the lockout statement: counts 1..50, locked at the threshold, the lock never moves (UserRepository)', async ({
    flow: h,
  }) => {
    const policy = h.platform.resolve(LockoutPolicy);
    const u = await h.user();
    const users = h.platform.resolve(UserRepository);
    const rows = await Promise.all(Array.from({ length: 50 }, () => users.recordFailedLogin(u.userId, policy)));
    const counts = rows.map((r) => r?.failedLoginCount ?? -1).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    for (const r of rows) expect(r?.lockedUntil === null).toBe((r?.failedLoginCount ?? 0) < policy.threshold);
    const locks = new Set(rows.flatMap((r) => (r?.lockedUntil ? [r.lockedUntil.getTime()] : [])));
    figures.set('c-lockout-repository', {
      check: '50 concurrent `recordFailedLogin` for one user',
      measured: `counts returned: exactly 1..50; first locked count ${Math.min(...rows.filter((r) => r?.lockedUntil).map((r) => r!.failedLoginCount))}; distinct lock expiries ${locks.size}`,
    });
    expect(locks.size).toBe(1);
    expect((await users.getById(u.userId))?.failedLoginCount).toBe(50);
  });

  test('200 concurrent rate-limited calls admit exactly the limit (RateLimiter, limit 50)', async ({ flow: h }) => {
    const limiter = h.platform.resolve(RateLimiter);
    const keys = h.platform.resolve(RedisKeys);
    const userId = randomUUID();
    const results = await Promise.all(Array.from({ length: 200 }, () => limiter.consumeForUser(userId, 'reliability', { limit: 50, windowMs: 60_000 })));
    const allowed = results.filter((r) => r.allowed);
    const logSize = await h.platform.resolve(RedisConnection).client.zcard(keys.rateLimitUser(userId, 'reliability'));
    figures.set('d-rate-limit', {
      check: '200 concurrent `consume` against a limit of 50 per minute',
      measured: `${allowed.length} admitted, ${results.length - allowed.length} denied; ${logSize} units in the window log`,
    });
    expect(allowed).toHaveLength(50);
    expect(allowed.map((r) => r.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(results.filter((r) => !r.allowed).every((r) => r.retryAfterMs > 0 && r.remaining === 0)).toBe(true);
    expect(logSize).toBe(50);
  });

  test('100 concurrent credit debits: never negative, the balance equals the start minus the successful debits (OrganizationRepository)', async ({
    flow: h,
  }) => {
    const u = await h.user();
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner', scopes: [] });
    const orgs = h.platform.resolve(OrganizationRepository);
    const start = 500;
    const current = (await orgs.getCurrent(ctx)).credits;
    await orgs.addCredits(ctx, start - current);
    // Deterministic amounts 1..20 summing to 1050: more than the balance, so some must be refused.
    const amounts = Array.from({ length: 100 }, (_, i) => ((i * 7) % 20) + 1);
    const results = await Promise.all(
      amounts.map(async (amount) => {
        try {
          return { amount, remaining: await orgs.debitCredits(ctx, amount) };
        } catch (error) {
          if (error instanceof ConflictError && error.constraint === 'organizations_credits_non_negative') return { amount, remaining: undefined };
          throw error;
        }
      }),
    );
    const ok = results.filter((r): r is { amount: number; remaining: number } => r.remaining !== undefined);
    const refused = results.filter((r) => r.remaining === undefined);
    const final = (await orgs.getCurrent(ctx)).credits;
    const debited = ok.reduce((sum, r) => sum + r.amount, 0);
    figures.set('e-credits', {
      check: `100 concurrent debits of 1-20 credits (sum ${amounts.reduce((a, b) => a + b, 0)}) from ${start}`,
      // Which debits win varies with scheduling; the invariants do not.
      measured: `final balance ${final >= 0 ? '≥ 0' : '< 0'}, ${final === start - debited ? '=' : '≠'} start − sum of successful debits; balances returned form ${isSerial(ok, start) ? 'one serial history' : 'NO serial history'}; refused only debits larger than the final balance: ${refused.every((r) => r.amount > final) ? 'yes' : 'no'}`,
    });
    expect(final).toBeGreaterThanOrEqual(0);
    expect(final).toBe(start - debited);
    // The returned balances form one serial history: each debit continues from the previous one.
    expect(isSerial(ok, start)).toBe(true);
    // Nothing was refused wrongly: the balance only falls, so every refused amount exceeds the final balance.
    expect(refused.every((r) => r.amount > final)).toBe(true);
    expect(refused.length).toBeGreaterThan(0);
  });

  test('Migrator.up() x4 on an empty database applies each file exactly once', async () => {
    const url = await emptyDatabase();
    const files = (await readdir(DEFAULT_MIGRATIONS_DIRECTORY))
      .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
      .map((f) => f.slice(0, -4))
      .sort();
    const migrators = Array.from({ length: 4 }, () => new Migrator({ url }));
    try {
      const results = await Promise.all(migrators.map((m) => m.up()));
      const applied = results.flatMap((r) => r.applied);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const ledger = await client.query<{ n: number; distinct_versions: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT version)::int AS distinct_versions FROM platform_migrations',
      );
      await client.end();
      figures.set('f-migrate', {
        check: `4 concurrent \`Migrator.up()\` on an empty database (${files.length} files)`,
        measured: `${applied.length} applications in total across the 4; ${ledger.rows[0]?.n} ledger rows`,
      });
      expect([...applied].sort()).toEqual(files);
      expect(ledger.rows[0]).toEqual({ n: files.length, distinct_versions: files.length });
    } finally {
      await Promise.all(migrators.map((m) => m.close()));
    }
  });

  test('bootstrapPlatform x2 at once on an empty database provisions once (ledger rows = files)', async ({ flow: h }) => {
    const url = await emptyDatabase();
    const files = (await readdir(DEFAULT_MIGRATIONS_DIRECTORY)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f));
    const appUrl = new URL(databaseUrl(admin!, new URL(url).pathname.slice(1), 'platform_app'));
    appUrl.password = new URL(admin!).password;
    const platforms = Array.from({ length: 2 }, () =>
      createPlatform(loadConfig({ ...h.t.env, DATABASE_URL: url, DATABASE_APP_URL: appUrl.toString() }), { stores: ['postgres'] }),
    );
    try {
      const results = await Promise.all(platforms.map((p) => bootstrapPlatform(p, { waitMs: 10_000 })));
      const outcome = results.map((r) => r.map((s) => `${s.store}:${s.status}${s.error ? ` ${s.error}` : ''}`).join());
      const ledger = await platforms[0]!.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM platform_migrations`);
      const changed = results.filter((r) => r[0]?.changed).length;
      figures.set('g-bootstrap', {
        check: `2 concurrent \`bootstrapPlatform\` (postgres) on an empty database (${files.length} files)`,
        measured: `both ${results.every((r) => r[0]?.status === 'provisioned') ? 'provisioned' : 'NOT provisioned'}; ${ledger} ledger rows`,
      });
      expect(outcome).toEqual(['postgres:provisioned', 'postgres:provisioned']);
      expect(ledger).toBe(files.length);
      expect(changed).toBeGreaterThanOrEqual(1);
      // A third run changes nothing.
      const again = await bootstrapPlatform(platforms[0]!, { waitMs: 5_000 });
      expect(again[0]).toMatchObject({ status: 'provisioned', changed: false });
    } finally {
      await Promise.all(platforms.map((p) => p.stop()));
    }
  });
});
