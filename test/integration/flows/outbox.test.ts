import 'reflect-metadata';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { ConflictError, TenantAccessError } from '../../../src/errors.js';
import { OutboxAuthNotifier } from '../../../src/flows/auth/outbox-auth-notifier.js';
import { PasswordResetRequest } from '../../../src/flows/auth/password-reset-request.js';
import { OutboxRelay } from '../../../src/flows/operations/outbox-relay.js';
import { DEFAULT_OUTBOX_RELAY_OPTIONS, type OutboxEmailSender } from '../../../src/outbox-relay-options.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { OutboxRepository, type OutboxMessageInput } from '../../../src/postgres/repositories/outbox-repository.js';
import { type OutboxMessage } from '../../../src/outbox-message.js';
import { withTenant } from '../../../src/postgres/with-tenant.js';
import { AdminScope } from '../../../src/tenancy/admin-scope.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { AUTH_NOTIFIER, OUTBOX_EMAIL_SENDER, OUTBOX_RELAY_OPTIONS } from '../../../src/tokens.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

/** A Standard Webhooks test secret: `whsec_` + base64 of the key bytes (standardwebhooks.com, "Signature scheme"). */
const SECRET = `whsec_${Buffer.from('a-32-byte-key-for-hmac-sha-256!!').toString('base64')}`;

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly status: number;
}

describe.skipIf(!requireStores('postgres', 'redis'))('transactional outbox and its relay', () => {
  let outbox: OutboxRepository;
  let relay: OutboxRelay;
  let server: Server;
  let url: string;
  const received: Received[] = [];
  /** Answers with the next status of this list (then 204). */
  let statuses: number[] = [];
  /** webhook-ids answered 500 once (then 204). */
  const failOnce = new Set<string>();
  const mailed: OutboxMessage[] = [];
  const mailer: OutboxEmailSender = { send: async (m) => void mailed.push(m) };
  const admin = AdminScope.create({ actor: 'outbox-test', reason: 'inspect dead letters' });
  let ctx: TenantContext;

  test.beforeAll(async ({ flow: h }) => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const id = String(req.headers['webhook-id']);
        const status = failOnce.delete(id) ? 500 : (statuses.shift() ?? 204);
        received.push({ headers: req.headers, body, status });
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    h.platform.container.register(OUTBOX_RELAY_OPTIONS, {
      useValue: {
        ...DEFAULT_OUTBOX_RELAY_OPTIONS,
        backoffBaseMs: 0,
        backoffMaxMs: 0,
        maxAttempts: 3,
        webhookSecret: SECRET,
        allowInsecureWebhookUrls: true,
        deliveryTimeoutMs: 2_000,
        leaseMs: 5_000,
      },
    });
    h.platform.container.register(OUTBOX_EMAIL_SENDER, { useValue: mailer });
    h.platform.container.registerSingleton(AUTH_NOTIFIER, OutboxAuthNotifier);
    outbox = h.platform.resolve(OutboxRepository);
    relay = h.platform.resolve(OutboxRelay);
    const u = await h.user();
    ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
  });
  test.afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });
  test.beforeEach(async () => {
    // Drain what earlier tests left (e.g. sign-up emails), so each test sees only its own messages.
    await drain();
    received.length = 0;
    mailed.length = 0;
    statuses = [];
  });

  const hook = (aggregateId: string, n: number, extra: Partial<OutboxMessageInput> = {}): OutboxMessageInput => ({
    kind: 'webhook',
    topic: 'invoice.updated',
    aggregateType: 'invoice',
    aggregateId,
    idempotencyKey: `invoice.updated:${aggregateId}:${n}`,
    organizationId: ctx.organizationId,
    payload: { url, body: { invoice: aggregateId, n } },
    ...extra,
  });
  const pool = (h: FlowHarness) => h.platform.resolve(PostgresConnection).appPool;
  const drain = async () => {
    for (let i = 0; i < 20; i++) {
      const r = await relay.runOnce();
      if (r.delivered + r.retried + r.dead === 0) return;
    }
  };

  test('exists exactly when the change committed: written in the change’s transaction, gone with its rollback', async ({ flow: h }) => {
    const id = randomUUID();
    await expect(
      withTenant(pool(h), ctx, async (tx) => {
        await outbox.appendWithin(tx, [hook(id, 1)]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(id, 2)]));
    await drain();
    expect(received.map((r) => (JSON.parse(r.body) as { data: { n: number } }).data.n)).toEqual([2]);
  });

  test('refuses a tenant transaction writing another organization’s message (row-level security), and a reused idempotency key', async ({ flow: h }) => {
    const other = await h.user();
    await expect(
      withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(randomUUID(), 1, { organizationId: other.organizationId })])),
    ).rejects.toBeInstanceOf(TenantAccessError);
    const id = randomUUID();
    await withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(id, 1)]));
    await expect(withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(id, 1)]))).rejects.toBeInstanceOf(ConflictError);
  });

  test('signs webhooks per Standard Webhooks; the receiver recomputes the HMAC; the payload is encrypted at rest', async ({ flow: h }) => {
    const id = randomUUID();
    await withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(id, 1, { payload: { url, body: { secretMarker: `m-${id}` } } })]));
    const raw = await h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT row_to_json(o)::text AS t FROM outbox_messages o WHERE idempotency_key = ${`invoice.updated:${id}:1`}`);
    expect(raw).not.toContain(`m-${id}`);
    await drain();
    expect(received).toHaveLength(1);
    const [r] = received;
    const msgId = String(r?.headers['webhook-id']);
    const ts = String(r?.headers['webhook-timestamp']);
    expect(msgId).toBe(`invoice.updated:${id}:1`);
    // Receiver side, from the spec: HMAC-SHA256(base64-decoded secret, "id.timestamp.body"), base64, "v1," prefix.
    const expected = createHmac('sha256', Buffer.from(SECRET.slice(6), 'base64'))
      .update(`${msgId}.${ts}.${r?.body}`)
      .digest('base64');
    expect(r?.headers['webhook-signature']).toBe(`v1,${expected}`);
    expect(JSON.parse(r?.body ?? '{}')).toMatchObject({ type: 'invoice.updated', data: { secretMarker: `m-${id}` } });
  });

  test('delivers one aggregate in order: a failing head holds back its successors, other aggregates go on', async ({ flow: h }) => {
    const a = randomUUID();
    const b = randomUUID();
    await withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(a, 1), hook(a, 2), hook(b, 1), hook(a, 3)]));
    failOnce.add(`invoice.updated:${a}:1`);
    const first = await relay.runOnce();
    // One claim per aggregate: a1 (fails) and b1; a2 and a3 wait behind a1.
    expect(first).toEqual({ delivered: 1, retried: 1, dead: 0 });
    await drain();
    const ok = received.filter((r) => r.status === 204).map((r) => String(r.headers['webhook-id']));
    expect(ok.filter((k) => k.includes(a))).toEqual([1, 2, 3].map((n) => `invoice.updated:${a}:${n}`));
    expect(ok).toContain(`invoice.updated:${b}:1`);
    // At least once: the failed one was sent again with the same idempotency key.
    expect(received.map((r) => String(r.headers['webhook-id'])).filter((k) => k === `invoice.updated:${a}:1`)).toHaveLength(2);
  });

  test('retries, then moves a message to the dead letters, visible in admin scope only, and requeues it', async ({ flow: h }) => {
    const id = randomUUID();
    await withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(id, 1)]));
    statuses = [503, 503, 503];
    await drain();
    expect(received).toHaveLength(3); // maxAttempts: 3
    const dead = (await outbox.deadLetters(admin)).filter((m) => m.aggregateId === id);
    expect(dead).toMatchObject([{ status: 'dead', attempts: 3, lastError: 'webhook answered HTTP 503', payload: { url } }]);
    await expect(outbox.deadLetters({ actor: 'x', reason: 'y' } as never)).rejects.toBeInstanceOf(TenantAccessError);
    expect(await outbox.requeue(admin, dead[0]?.id ?? 0)).toBe(true);
    await drain();
    expect(received).toHaveLength(4);
    expect((await outbox.deadLetters(admin)).filter((m) => m.aggregateId === id)).toEqual([]);
  });

  test('gives a claim back after its lease when a relay dies mid-delivery (at least once)', async ({ flow: h }) => {
    const id = randomUUID();
    await withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(id, 1)]));
    const [claimed] = await outbox.claim({ limit: 10, leaseMs: 1_000 }); // a relay that then dies
    expect(claimed?.aggregateId).toBe(id);
    expect(await outbox.claim({ limit: 10, leaseMs: 1_000 })).toEqual([]); // leased: nobody else takes it
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await drain();
    expect(received.map((r) => r.headers['webhook-id'])).toEqual([`invoice.updated:${id}:1`]);
  });

  test('the auth notifier writes to the outbox: a password-reset email reaches the mailer through the relay', async ({ flow: h }) => {
    const u = await h.user();
    await h.platform.resolve(PasswordResetRequest).requestPasswordReset(u.email, { ip: '203.0.113.5' });
    await h.platform.resolve(PasswordResetRequest).settled();
    await drain();
    const mail = mailed.find((m) => m.topic === 'auth.password_reset' && m.aggregateId === u.userId);
    expect(mail?.payload).toMatchObject({ to: u.email, token: expect.any(String) });
    const raw = await h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT row_to_json(o)::text AS t FROM outbox_messages o WHERE idempotency_key = ${mail?.idempotencyKey ?? ''}`);
    expect(raw).not.toContain(String(mail?.payload.token));
  });

  test('deletes delivered messages after the retention age, never pending or dead ones', async ({ flow: h }) => {
    const id = randomUUID();
    await withTenant(pool(h), ctx, (tx) =>
      outbox.appendWithin(tx, [hook(id, 1), hook(randomUUID(), 1, { idempotencyKey: `pending-${id}`, payload: { url, body: {} } })]),
    );
    await relay.runOnce(); // both delivered
    await withTenant(pool(h), ctx, (tx) => outbox.appendWithin(tx, [hook(id, 2)])); // stays pending
    const count = (status: string) =>
      h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM outbox_messages WHERE status = ${status} AND aggregate_id = ${id}`);
    expect(await outbox.deleteDelivered(3_600)).toBe(0); // younger than an hour
    expect(await outbox.deleteDelivered(0)).toBeGreaterThanOrEqual(2);
    expect(await count('delivered')).toBe(0);
    expect(await count('pending')).toBe(1);
  });
});
