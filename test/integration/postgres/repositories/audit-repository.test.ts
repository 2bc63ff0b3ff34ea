import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { AuditRepository } from '../../../../src/postgres/repositories/audit-repository.js';
import type { TenantContext } from '../../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

describe.skipIf(!requireStores('postgres'))('AuditRepository', () => {
  let audit: AuditRepository;
  let ctx: TenantContext;

  test.beforeAll(async ({ postgres: h }) => {
    audit = h.platform.resolve(AuditRepository);
    ctx = await h.tenant();
  });

  test('appends a batch in one statement and queries with filters and keyset pages, newest first', async ({ postgres: h }) => {
    const other = await h.tenant();
    const base = Date.now() - 60_000;
    const written = await audit.append([
      ...Array.from({ length: 7 }, (_, i) => ({
        eventType: i % 2 ? 'auth.login.failed' : 'auth.login.succeeded',
        organizationId: ctx.organizationId,
        actorUserId: ctx.userId,
        riskScore: i * 10,
        ip: '192.0.2.7',
        occurredAt: new Date(base + i * 1000),
        details: { i },
      })),
      { eventType: 'auth.login.succeeded', organizationId: other.organizationId },
      { eventType: 'auth.login.failed', details: { reason: 'unknown email' } },
    ]);
    expect(written).toBe(9);

    const all = await audit.query(ctx, {}, { limit: 3 });
    expect(all.items.map((e) => e.details.i)).toEqual([6, 5, 4]);
    expect(all.items[0]).toMatchObject({ organizationId: ctx.organizationId, ip: '192.0.2.7', riskScore: 60 });
    const rest = [];
    let cursor = all.nextCursor;
    while (cursor) {
      const page = await audit.query(ctx, {}, { limit: 3, cursor });
      rest.push(...page.items);
      cursor = page.nextCursor;
    }
    expect(rest.map((e) => e.details.i)).toEqual([3, 2, 1, 0]);

    const failed = await audit.query(ctx, { eventTypes: ['auth.login.failed'], minRiskScore: 30 });
    expect(failed.items.map((e) => e.details.i)).toEqual([5, 3]);
    const window = await audit.query(ctx, { from: new Date(base + 2000), to: new Date(base + 4000), actorUserId: ctx.userId });
    expect(window.items.map((e) => e.details.i)).toEqual([3, 2]);
    // Tenant isolation: the other organization sees its one event only.
    expect((await audit.query(other)).items).toHaveLength(1);
  });

  test('validates the filter and page', async () => {
    await expect(audit.query(ctx, { minRiskScore: 101 })).rejects.toMatchObject({ fields: ['filter.minRiskScore'] });
    await expect(audit.query(ctx, { actorUserId: 'me' })).rejects.toMatchObject({ fields: ['filter.actorUserId'] });
    await expect(audit.query(ctx, { eventTypes: ['DROP TABLE'] })).rejects.toMatchObject({ fields: ['filter.eventTypes.0'] });
    await expect(audit.append([{ eventType: 'ok.one' }, { eventType: 'ok.two', riskScore: 200 }])).rejects.toMatchObject({ fields: ['events.1.riskScore'] });
  });

  test('pseudonymises a user: actor, subject references, ip, user agent and PII details', async ({ postgres: h }) => {
    const victim = randomUUID();
    const bystander = randomUUID();
    await audit.append([
      {
        eventType: 'auth.login.succeeded',
        organizationId: ctx.organizationId,
        actorUserId: victim,
        ip: '198.51.100.1',
        userAgent: 'UA',
        details: { email: 'v@example.test', keep: 1 },
      },
      { eventType: 'auth.password.changed', organizationId: ctx.organizationId, actorUserId: victim },
      {
        eventType: 'admin.user.suspended',
        organizationId: ctx.organizationId,
        actorUserId: bystander,
        details: { targetUserId: victim, email: 'v@example.test' },
      },
      { eventType: 'auth.login.succeeded', organizationId: ctx.organizationId, actorUserId: bystander, ip: '198.51.100.2' },
    ]);
    expect(await audit.pseudonymiseUser(victim)).toBe(3);
    const rows = await h.postgres.ownerPool.any(sql.type(
      z.object({
        actor_user_id: z.string().nullable(),
        ip: z.string().nullable(),
        user_agent: z.string().nullable(),
        details: z.record(z.string(), z.unknown()),
      }),
    )`
      SELECT actor_user_id::text, host(ip) AS ip, user_agent, details FROM audit_log
      WHERE event_type IN ('auth.login.succeeded', 'auth.password.changed', 'admin.user.suspended') AND organization_id = ${ctx.organizationId}
        AND (actor_user_id <> ${ctx.userId} OR actor_user_id IS NULL)`);
    const text = JSON.stringify(rows);
    expect(text).not.toContain(victim);
    expect(text).not.toContain('v@example.test');
    expect(text).not.toContain('198.51.100.1');
    expect(text).toContain('198.51.100.2');
    const pseudonyms = new Set(rows.filter((r) => r.actor_user_id !== bystander).map((r) => r.actor_user_id));
    const target = rows.find((r) => r.details.targetUserId !== undefined)?.details.targetUserId;
    expect(pseudonyms.size).toBe(1);
    expect(pseudonyms.has(String(target))).toBe(true);
    expect(rows.some((r) => r.details.keep === 1)).toBe(true);
    expect(await audit.pseudonymiseUser(victim)).toBe(0);
  });

  test('ensures partitions ahead and drops partitions past retention', async ({ postgres: h }) => {
    const partitions = () =>
      h.postgres.ownerPool.anyFirst(sql.type(z.object({ name: z.string() }))`
        SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_log'::regclass ORDER BY 1`);
    const before = await partitions();
    expect(await audit.ensurePartitions(6)).toBe(3);
    expect(await audit.ensurePartitions(6)).toBe(0);
    expect((await partitions()).length).toBe(before.length + 3);

    await h.postgres.ownerPool.query(sql.unsafe`
      CREATE TABLE audit_log_p202001 PARTITION OF audit_log FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-02-01 00:00+00')`);
    await audit.append([{ eventType: 'old.event', organizationId: ctx.organizationId, occurredAt: new Date('2020-01-15T00:00:00Z') }]);
    expect(await audit.dropPartitionsOlderThan()).toEqual(['audit_log_p202001']);
    expect((await audit.query(ctx, { eventTypes: ['old.event'] })).items).toEqual([]);
    expect(await audit.dropPartitionsOlderThan(90)).toEqual([]);
    await expect(audit.dropPartitionsOlderThan(0)).rejects.toMatchObject({ fields: ['days'] });
    await expect(audit.ensurePartitions(37)).rejects.toMatchObject({ fields: ['monthsAhead'] });
  });
});
