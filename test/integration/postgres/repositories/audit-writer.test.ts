import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sql } from 'slonik';
import { describe, expect, vi } from 'vitest';
import { z } from 'zod';
import { PlatformError, StoreUnavailableError, ValidationError } from '../../../../src/errors.js';
import { createPlatform } from '../../../../src/platform.js';
import { AuditRepository, type AuditEventInput } from '../../../../src/postgres/repositories/audit-repository.js';
import { AuditWriter } from '../../../../src/postgres/repositories/audit-writer.js';
import { type AuditWriterOptions } from '../../../../src/audit-writer-options.js';
import { createLogger } from '../../../../src/logger.js';
import { Lifecycle } from '../../../../src/lifecycle.js';
import { type PostgresHarness } from '../../../support/postgres-harness.js';
import { requireStores } from '../../../support/require-stores.js';
import { AUDIT_WRITER_OPTIONS } from '../../../../src/tokens.js';
import { test } from '../../../support/fixtures.js';

describe.skipIf(!requireStores('postgres'))('AuditWriter', () => {
  let repo: AuditRepository;

  const countType = async (h: PostgresHarness, eventType: string) =>
    h.postgres.ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM audit_log WHERE event_type = ${eventType}`);
  const writer = (options: AuditWriterOptions, lifecycle = new Lifecycle()) => new AuditWriter(repo, lifecycle, createLogger('silent'), options);

  test.beforeAll(async ({ postgres: h }) => {
    repo = h.platform.resolve(AuditRepository);
  });

  test('is a platform singleton with the default options', ({ postgres: h }) => {
    const w = h.platform.resolve(AuditWriter);
    expect(h.platform.resolve(AuditWriter)).toBe(w);
    expect(w.stats).toEqual({ flushes: 0, written: 0, failures: 0, queued: 0 });
  });

  test('5 000 events: every row written, one INSERT per flush, queue never above its bound', async ({ postgres: h }) => {
    const options = { maxQueue: 1_000, maxBatch: 250, flushIntervalMs: 20 };
    const w = writer(options);
    // The writer's sink runs as the application role (no owner at run time: docs/security.md), one
    // transaction per flush: its own admin scope and the batch's single INSERT … SELECT FROM unnest, pipelined
    // as one implicit transaction (PostgresConnection.scopedCommand).
    const transaction = vi.spyOn(h.postgres, 'scopedCommand');
    const pool = h.postgres.ownerPool;
    const append = vi.spyOn(repo, 'appendValidated');
    let maxQueued = 0;
    append.mockImplementation(async function (this: AuditRepository, events) {
      maxQueued = Math.max(maxQueued, w.stats.queued + events.length);
      return AuditRepository.prototype.appendValidated.call(repo, events);
    });
    try {
      const orgId = randomUUID();
      await Promise.all(
        Array.from({ length: 5_000 }, (_, i) =>
          w.record({ eventType: 'test.bulk', organizationId: orgId, riskScore: i % 101, details: { i }, ip: i % 2 ? '10.0.0.1' : null }),
        ),
      );
      await w.flush();
      const inserts = transaction.mock.calls.length;
      expect(await countType(h, 'test.bulk')).toBe(5_000);
      expect(w.stats).toMatchObject({ written: 5_000, failures: 0, queued: 0 });
      expect(w.stats.flushes).toBe(inserts);
      expect(inserts).toBe(append.mock.calls.length);
      expect(inserts).toBeGreaterThanOrEqual(20);
      expect(append.mock.calls.every(([events]) => events.length <= 250)).toBe(true);
      expect(maxQueued).toBeLessThanOrEqual(1_000);
      const distinct = await pool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(DISTINCT (details->>'i'))::int AS n FROM audit_log WHERE event_type = 'test.bulk'`);
      expect(distinct).toBe(5_000);
    } finally {
      transaction.mockRestore();
      append.mockRestore();
    }
  });

  test('runs up to flushConcurrency INSERTs at once, and flush() resolves only after every one committed', async ({ postgres: h }) => {
    const w = writer({ maxQueue: 1_000, maxBatch: 100, flushIntervalMs: 60_000, flushConcurrency: 2 });
    const append = vi.spyOn(repo, 'appendValidated');
    let inFlight = 0;
    let maxInFlight = 0;
    append.mockImplementation(async function (this: AuditRepository, events) {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await new Promise((r) => setTimeout(r, 20));
        return await AuditRepository.prototype.appendValidated.call(repo, events);
      } finally {
        inFlight -= 1;
      }
    });
    try {
      const orgId = randomUUID();
      for (let i = 0; i < 450; i++) await w.record({ eventType: 'test.concurrent', organizationId: orgId, riskScore: 1 });
      await w.flush();
      // Counted by the owner right after flush() resolved: every batch has committed.
      expect(await countType(h, 'test.concurrent')).toBe(450);
      expect(maxInFlight).toBe(2);
      expect(append.mock.calls.map(([events]) => events.length).sort((a, b) => a - b)).toEqual([50, 100, 100, 100, 100]);
    } finally {
      append.mockRestore();
      await w.close();
    }
  });

  test('flushes on the interval without an explicit flush', async ({ postgres: h }) => {
    const w = writer({ maxQueue: 100, maxBatch: 100, flushIntervalMs: 10 });
    await w.record({ eventType: 'test.timer' });
    await vi.waitFor(async () => expect(await countType(h, 'test.timer')).toBe(1), { timeout: 2_000, interval: 20 });
    // The row is visible as soon as the INSERT commits, a moment before the writer counts its flush.
    await vi.waitFor(() => expect(w.stats.flushes).toBe(1), { timeout: 2_000, interval: 5 });
  });

  test('query with readYourWrites sees what was just recorded (the writer flushes first); the default read does not wait for it (issue 19)', async ({
    postgres: h,
  }) => {
    const w = writer({ maxQueue: 100, maxBatch: 100, flushIntervalMs: 60_000 });
    const ctx = await h.tenant();
    await w.record({ eventType: 'test.read_your_writes', organizationId: ctx.organizationId, details: {} });
    const lagging = await repo.query(ctx, { eventTypes: ['test.read_your_writes'] });
    expect(lagging.items).toEqual([]); // still queued: the interval is a minute away
    const fresh = await repo.query(ctx, { eventTypes: ['test.read_your_writes'] }, undefined, { readYourWrites: true });
    expect(fresh.items.map((e) => e.eventType)).toEqual(['test.read_your_writes']);
    expect(w.stats.flushes).toBe(1);
    await expect(repo.query(ctx, {}, undefined, { readYourWrites: 'yes' } as never)).rejects.toBeInstanceOf(ValidationError);
    await w.close();
  });

  test('validates before queuing: risk score 0–100, ip, event type, details size', async () => {
    const w = writer({ maxQueue: 10, maxBatch: 10, flushIntervalMs: 1_000 });
    await expect(w.record({ eventType: 'x.y', riskScore: 101 })).rejects.toMatchObject({ fields: ['riskScore'] });
    await expect(w.record({ eventType: 'x.y', riskScore: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(w.record({ eventType: 'x.y', riskScore: 5.5 })).rejects.toMatchObject({ fields: ['riskScore'] });
    await expect(w.record({ eventType: 'x.y', ip: 'localhost' })).rejects.toMatchObject({ fields: ['ip'] });
    await expect(w.record({ eventType: 'Bad Type' })).rejects.toMatchObject({ fields: ['eventType'] });
    await expect(w.record({ eventType: 'x.y', organizationId: 'org-1' })).rejects.toMatchObject({ fields: ['organizationId'] });
    await expect(w.record({ eventType: 'x.y', details: { blob: 'x'.repeat(20_000) } })).rejects.toMatchObject({ fields: ['details'] });
    expect(w.stats.queued).toBe(0);
    expect(() => writer({ maxQueue: 10, maxBatch: 20, flushIntervalMs: 1 })).toThrow(ValidationError);
  });

  test('a failed INSERT keeps its events, in order, for the next flush; a full queue waits', async ({ postgres: h }) => {
    const w = writer({ maxQueue: 4, maxBatch: 4, flushIntervalMs: 60_000 });
    const append = vi.spyOn(repo, 'appendValidated').mockRejectedValueOnce(new StoreUnavailableError('postgres', 'down'));
    try {
      for (let i = 0; i < 3; i++) await w.record({ eventType: 'test.retry', details: { i } });
      await expect(w.flush()).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(w.stats).toMatchObject({ failures: 1, queued: 3, written: 0 });
      await w.record({ eventType: 'test.retry', details: { i: 3 } }); // reaches maxBatch: flushes in the background
      await w.record({ eventType: 'test.retry', details: { i: 4 } }); // waits if the queue is still full
      await w.flush();
      expect(w.stats).toMatchObject({ failures: 1, queued: 0, written: 5 });
      const order = await h.postgres.ownerPool.anyFirst(sql.type(z.object({ i: z.number() }))`
        SELECT (details->>'i')::int AS i FROM audit_log WHERE event_type = 'test.retry' ORDER BY created_at, (details->>'i')::int`);
      expect(order).toEqual([0, 1, 2, 3, 4]);
    } finally {
      append.mockRestore();
    }
  });

  test('a flush whose INSERT committed but whose answer was lost is retried without a duplicate row (issue 16, item 9)', async ({ postgres: h }) => {
    const w = writer({ maxQueue: 10, maxBatch: 10, flushIntervalMs: 60_000 });
    const real = repo.appendValidated.bind(repo);
    // The INSERT commits, then the connection dies before the answer: the writer sees an error and keeps the events.
    const append = vi.spyOn(repo, 'appendValidated').mockImplementationOnce(async (events) => {
      await real(events);
      throw new StoreUnavailableError('postgres', 'connection lost after commit');
    });
    try {
      for (let i = 0; i < 3; i++) await w.record({ eventType: 'test.lost_answer', details: { i } });
      await expect(w.flush()).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(w.stats).toMatchObject({ failures: 1, queued: 3 });
      await w.flush();
      expect(w.stats.queued).toBe(0);
      expect(await countType(h, 'test.lost_answer')).toBe(3);
      // The same event appended twice directly (same id and time) is stored once too.
      const event = { eventType: 'test.same_id', id: randomUUID(), occurredAt: new Date() };
      expect(await repo.append([event])).toBe(1);
      expect(await repo.append([event])).toBe(0);
      expect(await countType(h, 'test.same_id')).toBe(1);
    } finally {
      append.mockRestore();
    }
  });

  test('platform.stop() flushes everything queued (nothing lost on a clean stop)', async ({ postgres: h }) => {
    const platform = createPlatform(h.t.config, { stores: ['postgres'] });
    platform.container.register(AUDIT_WRITER_OPTIONS, { useValue: { maxQueue: 10_000, maxBatch: 10_000, flushIntervalMs: 60_000 } });
    await platform.start();
    const w = platform.resolve(AuditWriter);
    const events: AuditEventInput[] = Array.from({ length: 1_234 }, (_, i) => ({ eventType: 'test.stop', riskScore: 1, details: { i } }));
    for (const e of events) await w.record(e);
    expect(w.stats.queued).toBe(1_234);
    await platform.stop();
    await expect(w.record({ eventType: 'test.stop' })).rejects.toMatchObject({ code: 'AUDIT_WRITER_CLOSED' });
    expect(await countType(h, 'test.stop')).toBe(1_234);
    // Read through a separate connection too: the rows are committed, not just visible to one pool.
    const client = new pg.Client({ connectionString: h.t.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE event_type = 'test.stop'`);
      expect(rows[0]?.n).toBe(1_234);
    } finally {
      await client.end();
    }
  });

  test('closed writers refuse events', async ({ postgres: h }) => {
    const lifecycle = new Lifecycle();
    const w = writer({ maxQueue: 10, maxBatch: 10, flushIntervalMs: 1_000 }, lifecycle);
    await w.record({ eventType: 'test.closed' });
    expect(await lifecycle.runStopHooks()).toEqual([]);
    expect(await countType(h, 'test.closed')).toBe(1);
    await expect(w.record({ eventType: 'test.closed' })).rejects.toBeInstanceOf(PlatformError);
  });
});
