import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { MAINTENANCE_JOBS, Maintenance, type MaintenanceJobResult } from '../../../src/flows/operations/maintenance.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { MaintenanceRepository } from '../../../src/postgres/repositories/maintenance-repository.js';
import { QueueWorkers } from '../../../src/flows/queue-workers.js';
import { JobQueues } from '../../../src/redis/job-queues.js';
import { MAINTENANCE_QUEUE } from '../../../src/flows/operations/maintenance-queue.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { TenantAccessError } from '../../../src/errors.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { test } from '../../support/fixtures.js';

// Scheduled maintenance (issue 20): each job's effect on rows, the soak that made refresh_tokens grow
// without bound, and two runners at once. "Ended past the retention" is made by moving timestamps back
// with the owner role, as the days would.

let owner: PostgresConnection;

let raw: pg.Client;
const count = async (table: string, where = 'true'): Promise<number> => {
  const { rows } = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`);
  return rows[0]!.n;
};
const exec = async (text: string): Promise<void> => {
  await raw.query(text);
};
const hash = () => `'\\x${randomBytes(32).toString('hex')}'::bytea`;
const byJob = (results: readonly MaintenanceJobResult[]) => new Map(results.map((r) => [r.job, r]));

test.beforeAll(async ({ flow: h }) => {
  owner = h.platform.resolve(PostgresConnection);
  raw = new pg.Client({ connectionString: h.t.databaseUrl });
  await raw.connect();
}, 60_000);
test.afterAll(async () => {
  await raw?.end();
});

describe('Maintenance', () => {
  test('refuses a person: only a system job may run it', async ({ flow: h }) => {
    const { userId, organizationId } = await h.user();
    const ctx = createTenantContext({ organizationId, userId, role: 'owner' });
    const maintenance = h.platform.resolve(Maintenance) as unknown as { lastRuns(ctx: unknown): Promise<unknown> };
    await expect(maintenance.lastRuns(ctx)).rejects.toBeInstanceOf(TenantAccessError);
  });

  test('soak: refresh_tokens stops growing once ended families past retention are swept (it grew every round before)', async ({ flow: h }) => {
    const { email } = await h.user();
    const keeper = await h.signIn.login(email, PASSWORD);
    if (keeper.status !== 'signed_in') throw new Error('expected a session');
    let token = keeper.refreshToken;
    const maintenance = h.platform.resolve(Maintenance);
    const before: number[] = [];
    const after: number[] = [];
    const jobs = ['sessions', 'refresh-token-families', 'rotated-refresh-tokens'] as const;
    for (let round = 0; round < 4; round++) {
      token = (await h.rotation.refresh(token)).refreshToken; // the long-lived session rotates once a round
      for (let i = 0; i < 3; i++) {
        const s = await h.signIn.login(email, PASSWORD);
        if (s.status !== 'signed_in') throw new Error('expected a session');
        let t = s.refreshToken;
        for (let r = 0; r < 2; r++) t = (await h.rotation.refresh(t)).refreshToken;
        await h.revoker.logout(s.sessionId);
      }
      before.push(await count('refresh_tokens'));
      // Days pass: the logged-out sessions ended 8 days ago (retention 7), the keeper's rotated tokens are 31 days old (retention 30).
      await exec(`UPDATE sessions SET revoked_at = revoked_at - interval '8 days' WHERE revoked_at IS NOT NULL`);
      await exec(`UPDATE refresh_tokens SET revoked_at = revoked_at - interval '8 days' WHERE revoked_at IS NOT NULL`);
      await exec(`UPDATE refresh_tokens SET rotated_at = rotated_at - interval '31 days' WHERE rotated_at IS NOT NULL`);
      const results = byJob(await maintenance.run([...jobs]));
      for (const job of jobs) expect(results.get(job)?.status).toBe('succeeded');
      after.push(await count('refresh_tokens'));
    }
    // Without the sweep the table grows by 3 sessions × 3 tokens + 1 rotation per round.
    expect(before[0]).toBeGreaterThanOrEqual(11);
    // With it, only the keeper's current token is left after every round: bounded, not growing.
    expect(after).toEqual([1, 1, 1, 1]);
    expect(await count('sessions', 'revoked_at IS NULL')).toBeGreaterThanOrEqual(1);
    // The live session still refreshes after its rotated ancestors were pruned.
    await expect(h.rotation.refresh(token)).resolves.toMatchObject({ sessionId: keeper.sessionId });
  }, 120_000);

  test('keeps what ended within the retention: a logout of today survives the sweep', async ({ flow: h }) => {
    const { email } = await h.user();
    const s = await h.signIn.login(email, PASSWORD);
    if (s.status !== 'signed_in') throw new Error('expected a session');
    await h.revoker.logout(s.sessionId);
    await h.platform.resolve(Maintenance).run(['sessions', 'refresh-token-families']);
    expect(await count('sessions', `id = '${s.sessionId}'`)).toBe(1);
    expect(await count('refresh_tokens', `session_id = '${s.sessionId}'`)).toBeGreaterThanOrEqual(1);
  });

  test('each sweep deletes exactly the rows past its retention and keeps the rest', async ({ flow: h }) => {
    const { userId, organizationId } = await h.user();
    const u = `'${userId}'`;
    const o = `'${organizationId}'`;
    // Old: ended past retention. Fresh: ended recently, or still live.
    await exec(`INSERT INTO verification_tokens (user_id, purpose, token_hash, expires_at) VALUES
      (${u}, 'email_verification', ${hash()}, now() - interval '8 days'),
      (${u}, 'password_reset', ${hash()}, now() + interval '1 day')`);
    await exec(`INSERT INTO verification_tokens (user_id, purpose, token_hash, expires_at, consumed_at) VALUES
      (${u}, 'magic_link', ${hash()}, now() + interval '1 day', now() - interval '8 days'),
      (${u}, 'magic_link', ${hash()}, now() + interval '1 day', now() - interval '1 day')`);
    await exec(`INSERT INTO mfa_challenges (user_id, organization_id, purpose, token_hash, expires_at) VALUES
      (${u}, ${o}, 'sign_in', ${hash()}, now() - interval '8 days'),
      (${u}, ${o}, 'sign_in', ${hash()}, now() + interval '5 minutes')`);
    await exec(`INSERT INTO integration_tokens (organization_id, user_id, integration, access_token_encrypted, expires_at) VALUES
      (${o}, ${u}, 'old', '\\x00'::bytea, now() - interval '31 days'),
      (${o}, ${u}, 'recent', '\\x00'::bytea, now() - interval '29 days'),
      (${o}, ${u}, 'forever', '\\x00'::bytea, NULL)`);
    await exec(`INSERT INTO membership_invitations (organization_id, user_id, role, token_hash, expires_at, answer, answered_at) VALUES
      (${o}, ${u}, 'member', ${hash()}, now() - interval '31 days', NULL, NULL),
      (${o}, ${u}, 'member', ${hash()}, now() + interval '1 day', 'declined', now() - interval '31 days'),
      (${o}, ${u}, 'member', ${hash()}, now() + interval '1 day', 'accepted', now() - interval '1 day')`);
    await exec(`INSERT INTO voice_cache_entries (organization_id, cache_key, storage_uri, content_type, byte_size, expires_at) VALUES
      (${o}, ${hash()}, 's3://audio/expired', 'audio/mpeg', 10, now() - interval '1 second'),
      (${o}, ${hash()}, 's3://audio/live', 'audio/mpeg', 10, now() + interval '1 day'),
      (${o}, ${hash()}, 's3://audio/forever', 'audio/mpeg', 10, NULL)`);

    const results = byJob(
      await h.platform.resolve(Maintenance).run(['verification-tokens', 'mfa-challenges', 'integration-tokens', 'invitations', 'voice-cache']),
    );
    expect(results.get('verification-tokens')).toMatchObject({ status: 'succeeded', rowsAffected: 2 });
    expect(results.get('mfa-challenges')).toMatchObject({ status: 'succeeded', rowsAffected: 1 });
    expect(results.get('integration-tokens')).toMatchObject({ status: 'succeeded', rowsAffected: 1 });
    expect(results.get('invitations')).toMatchObject({ status: 'succeeded', rowsAffected: 2 });
    expect(results.get('voice-cache')).toMatchObject({ status: 'succeeded', rowsAffected: 1 });
    expect(await count('verification_tokens', `user_id = ${u}`)).toBe(2);
    expect(await count('mfa_challenges', `user_id = ${u}`)).toBe(1);
    expect(await owner.ownerPool.anyFirst(sql.unsafe`SELECT integration FROM integration_tokens WHERE user_id = ${userId} ORDER BY integration`)).toEqual([
      'forever',
      'recent',
    ]);
    expect(await count('membership_invitations', `user_id = ${u} AND answer = 'accepted'`)).toBe(1);
    expect(await count('membership_invitations', `user_id = ${u}`)).toBe(1);
    expect(
      await owner.ownerPool.anyFirst(sql.unsafe`SELECT storage_uri FROM voice_cache_entries WHERE organization_id = ${organizationId} ORDER BY storage_uri`),
    ).toEqual(['s3://audio/forever', 's3://audio/live']);

    // Idempotent: a second pass finds nothing more.
    const again = await h.platform.resolve(Maintenance).run(['verification-tokens', 'mfa-challenges', 'integration-tokens', 'invitations', 'voice-cache']);
    expect(again.map((r) => r.rowsAffected)).toEqual([0, 0, 0, 0, 0]);
  });

  test('deletes in bounded batches: 25 rows with batchSize 10 take 3 statements', async ({ flow: h }) => {
    const { userId } = await h.user();
    // Consumed tokens: a user has at most one unconsumed token per purpose (sql/0117).
    for (let i = 0; i < 25; i++) {
      await exec(
        `INSERT INTO verification_tokens (user_id, purpose, token_hash, expires_at, consumed_at) VALUES ('${userId}', 'email_verification', ${hash()}, now() - interval '30 days', now() - interval '30 days')`,
      );
    }
    const small = createPlatform(h.t.config, { stores: ['postgres'], maintenance: { batchSize: 10 } });
    await small.start();
    try {
      const [result] = await small.resolve(Maintenance).run(['verification-tokens']);
      expect(result).toMatchObject({ status: 'succeeded', rowsAffected: 25, batches: 3 });
    } finally {
      await small.stop();
    }
  });

  test('audit partitions: creates the months ahead and drops those past the retention', async ({ flow: h }) => {
    await exec(`CREATE TABLE audit_log_p201901 PARTITION OF audit_log FOR VALUES FROM ('2019-01-01 00:00+00') TO ('2019-02-01 00:00+00')`);
    const ahead = 6;
    const missing = async () =>
      owner.ownerPool.oneFirst(sql.unsafe`
        SELECT count(*)::int FROM generate_series(0, ${ahead}) AS i
        WHERE to_regclass('audit_log_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i), 'YYYYMM')) IS NULL`) as Promise<number>;
    const expectedCreated = await missing();
    expect(expectedCreated).toBeGreaterThan(0); // bootstrap created 3 months ahead, so months 4-6 are missing
    const custom = createPlatform(h.t.config, { stores: ['postgres'], maintenance: { auditMonthsAhead: ahead, auditRetentionDays: 90 } });
    await custom.start();
    try {
      const results = byJob(await custom.resolve(Maintenance).run(['audit-partitions', 'audit-retention']));
      expect(results.get('audit-partitions')).toMatchObject({ status: 'succeeded', rowsAffected: expectedCreated });
      expect(results.get('audit-retention')).toMatchObject({ status: 'succeeded', rowsAffected: 1 });
      expect(await missing()).toBe(0);
      expect(await owner.ownerPool.oneFirst(sql.unsafe`SELECT to_regclass('audit_log_p201901') IS NULL AS gone`)).toBe(true);
    } finally {
      await custom.stop();
    }
  });

  test('records every run in maintenance_runs; lastRuns shows each job', async ({ flow: h }) => {
    await h.platform.resolve(Maintenance).run();
    const last = await h.platform.resolve(Maintenance).lastRuns();
    expect(last.map((r) => r.job).sort()).toEqual([...MAINTENANCE_JOBS].sort());
    for (const run of last) {
      expect(run.status).toBe('succeeded');
      expect(run.finishedAt!.getTime()).toBeGreaterThanOrEqual(run.startedAt.getTime());
    }
  });

  test('platform-data worker keeps one BullMQ job scheduler however many workers start, and its jobs run the pass', async ({ flow: h }) => {
    const workers = [createPlatform(h.t.config, { stores: ['postgres', 'redis'] }), createPlatform(h.t.config, { stores: ['postgres', 'redis'] })];
    try {
      for (const p of workers) {
        await p.start();
        await p.resolve(QueueWorkers).start({ queues: ['maintenance'], reconcileEveryMs: 0 });
      }
      const schedules = await workers[0]!.resolve(JobQueues).schedules(MAINTENANCE_QUEUE);
      expect(schedules).toEqual([expect.objectContaining({ id: 'maintenance', everyMs: 3_600_000 })]);
      // An `every` scheduler adds its first job at once: a worker runs it and records the pass.
      const before = Date.now();
      const queues = workers[0]!.resolve(JobQueues);
      const deadline = Date.now() + 60_000;
      while (((await queues.counts(MAINTENANCE_QUEUE)).completed ?? 0) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      expect((await queues.counts(MAINTENANCE_QUEUE)).completed).toBe(1);
      const [last] = await workers[0]!.resolve(MaintenanceRepository).runsOf('sessions', 1);
      expect(last?.status).toBe('succeeded');
      expect(last!.startedAt.getTime()).toBeGreaterThan(before - 1_000); // this pass's, not an earlier test's
    } finally {
      for (const p of workers) await p.stop();
    }
  }, 90_000);

  describe('two runners at once', () => {
    let second: Platform;
    test.beforeAll(async ({ flow: h }) => {
      second = createPlatform(h.t.config, { stores: ['postgres'] });
      await second.start();
    });
    test.afterAll(async () => {
      await second?.stop();
    });

    test('run each job once: one runner does it, the other skips it, and the rows are deleted once', async ({ flow: h }) => {
      const { userId } = await h.user();
      for (let i = 0; i < 5; i++) {
        await exec(
          `INSERT INTO verification_tokens (user_id, purpose, token_hash, expires_at, consumed_at) VALUES ('${userId}', 'email_verification', ${hash()}, now() - interval '30 days', now() - interval '30 days')`,
        );
      }
      const [a, b] = await Promise.all([h.platform.resolve(Maintenance).run(), second.resolve(Maintenance).run()]);
      for (const job of MAINTENANCE_JOBS) {
        const statuses = [byJob(a).get(job)?.status, byJob(b).get(job)?.status].sort();
        expect({ job, statuses }).toEqual({ job, statuses: ['skipped', 'succeeded'] });
      }
      const deleted = [byJob(a).get('verification-tokens')!, byJob(b).get('verification-tokens')!].reduce((n, r) => n + r.rowsAffected, 0);
      expect(deleted).toBe(5);
    }, 60_000);

    test('a job whose lock another runner holds is skipped and its rows left alone', async ({ flow: h }) => {
      const { userId } = await h.user();
      await exec(
        `INSERT INTO verification_tokens (user_id, purpose, token_hash, expires_at, consumed_at) VALUES ('${userId}', 'email_verification', ${hash()}, now() - interval '30 days', now() - interval '30 days')`,
      );
      // Another runner mid-job: the same session-level advisory lock, held on a connection of the test.
      await owner.ownerPool.connect(async (connection) => {
        await connection.query(sql.unsafe`SELECT pg_advisory_lock(${0x6d61_696e}::int, hashtext('verification-tokens'))`);
        try {
          const [result] = await second.resolve(Maintenance).run(['verification-tokens']);
          expect(result).toMatchObject({ status: 'skipped', rowsAffected: 0 });
          expect(await count('verification_tokens', `user_id = '${userId}'`)).toBe(1);
        } finally {
          await connection.query(sql.unsafe`SELECT pg_advisory_unlock(${0x6d61_696e}::int, hashtext('verification-tokens'))`);
        }
      });
      const [result] = await second.resolve(Maintenance).run(['verification-tokens']);
      expect(result).toMatchObject({ status: 'succeeded', rowsAffected: 1 });
    });
  });
});
