import { sql, type CommonQueryMethods } from 'slonik';
import { inject, injectable } from 'tsyringe';
import type { OutboxMessage } from '../../outbox-message.js';
import { z } from 'zod';
import { jsonObjectInput } from '../../input-policy.js';
import { parseInput } from '../../parse-input.js';
import { SecretBox } from '../../security/secret-box.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { AdminScope } from '../../tenancy/admin-scope.js';
import { PostgresConnection } from '../postgres-connection.js';
import { withScope } from '../with-scope.js';
import { noRows } from './no-rows.js';

/** Largest serialized payload of one message. */
export const MAX_OUTBOX_PAYLOAD_BYTES = 65_536;

/** A message to announce a change: written by {@link OutboxRepository.appendWithin} in the change's transaction. */
export const outboxMessageInputSchema = z
  .object({
    kind: z.enum(['email', 'webhook']),
    /** What happened, lowercase dotted (`user.email_verification`, `invoice.paid`). */
    topic: z.string().regex(/^[a-z][a-z0-9_.]{0,99}$/, 'must be lowercase dotted, e.g. "invoice.paid"'),
    /** Messages of one aggregate (type + id) are delivered in the order they were written. */
    aggregateType: z.string().min(1).max(100),
    aggregateId: z.string().min(1).max(200),
    /** Unique per message; sent with every attempt so receivers can drop repeats. */
    idempotencyKey: z.string().min(1).max(200),
    organizationId: z.uuid().nullable().default(null),
    /** Email: `{ to, template, … }`; webhook: `{ url, body }` (see OutboxRelay). Encrypted at rest. */
    payload: jsonObjectInput(MAX_OUTBOX_PAYLOAD_BYTES),
  })
  .strict();
export type OutboxMessageInput = z.input<typeof outboxMessageInputSchema>;

/** A message as the relay and the dead-letter view see it (payload decrypted). */
const messageRow = z.object({
  id: z.number(),
  kind: z.enum(['email', 'webhook']),
  topic: z.string(),
  aggregate_type: z.string(),
  aggregate_id: z.string(),
  idempotency_key: z.string(),
  organization_id: z.uuid().nullable(),
  payload: z.instanceof(Buffer),
  status: z.enum(['pending', 'delivered', 'dead']),
  attempts: z.number(),
  last_error: z.string().nullable(),
  created_at: z.date(),
});
const COLUMNS = sql.fragment`id, kind, topic, aggregate_type, aggregate_id, idempotency_key, organization_id, payload, status, attempts, last_error, created_at`;
const RELAY_SCOPE = Object.freeze({ adminActor: 'outbox-relay' });

const claimInput = z.object({ limit: z.number().int().min(1).max(1_000), leaseMs: z.number().int().min(1_000).max(3_600_000) }).strict();
const idInput = z.number().int().positive();
const errorText = (error: string): string => error.slice(0, 1_000);
const aad = (idempotencyKey: string): string => `outbox_messages:${idempotencyKey}:payload`;

/**
 * The transactional outbox (migration 0112). Writers append inside the
 * transaction of the change they announce; the relay claims, completes,
 * reschedules and buries messages in admin scope ("outbox-relay"), since one
 * relay serves every organization. Payloads are SecretBox envelopes.
 */
@injectable()
@accessControlled
export class OutboxRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(SecretBox) private readonly box: SecretBox,
  ) {}

  /**
   * Appends messages in the caller's transaction `tx` (a tenant's own organization, or none).
   * @throws ValidationError naming `messages.<i>.<field>`; ConflictError (`outbox_messages_idempotency_key`) for a key used before
   */
  @declareAccess({ systemJob: 'written by the platform inside the transaction of the change it announces' })
  async appendWithin(tx: CommonQueryMethods, messages: readonly OutboxMessageInput[]): Promise<number> {
    const valid = parseInput(z.array(outboxMessageInputSchema).max(1_000), messages, 'messages');
    if (valid.length === 0) return 0;
    const tuples = valid.map((m) => [
      m.organizationId,
      m.kind,
      m.topic,
      m.aggregateType,
      m.aggregateId,
      m.idempotencyKey,
      // Encrypted and hex-encoded for unnest (bytea travels as text there).
      `\\x${this.box.encrypt(JSON.stringify(m.payload), aad(m.idempotencyKey)).toString('hex')}`,
    ]);
    // No RETURNING: the writer's scope may not SELECT the outbox (only the relay's does).
    const result = await tx.query(sql.type(noRows)`
      INSERT INTO outbox_messages (organization_id, kind, topic, aggregate_type, aggregate_id, idempotency_key, payload)
      SELECT * FROM ${sql.unnest(tuples, ['uuid', 'text', 'text', 'text', 'text', 'text', 'bytea'])}`);
    return result.rowCount;
  }

  /**
   * Appends messages in a transaction of their own (organization-less or any organization): for
   * announcements whose change committed elsewhere (the auth notifier's messages).
   * @throws as {@link appendWithin}
   */
  @declareAccess({ systemJob: 'written by the platform after the change it announces' })
  async append(messages: readonly OutboxMessageInput[]): Promise<number> {
    return withScope(this.postgres.appPool, RELAY_SCOPE, (tx) => this.appendWithin(tx, messages));
  }

  /**
   * Claims up to `limit` due messages, at most one per aggregate (its oldest
   * pending one, so an aggregate's messages go out in order), skipping rows
   * another relay holds (`FOR UPDATE SKIP LOCKED`) or has leased. Each claimed
   * message's attempts grow by one and it is leased for `leaseMs`.
   */
  @declareAccess({ systemJob: 'the outbox relay' })
  async claim(options: z.input<typeof claimInput>): Promise<readonly OutboxMessage[]> {
    const o = parseInput(claimInput, options);
    const rows = await withScope(this.postgres.appPool, RELAY_SCOPE, async (tx) => {
      const heads = await tx.any(sql.type(z.object({ id: z.number() }))`
        WITH heads AS (
          SELECT DISTINCT ON (aggregate_type, aggregate_id) id FROM outbox_messages
          WHERE status = 'pending' ORDER BY aggregate_type, aggregate_id, id
        )
        SELECT m.id FROM outbox_messages m JOIN heads h ON h.id = m.id
        WHERE m.next_attempt_at <= now() AND (m.locked_until IS NULL OR m.locked_until < now())
        ORDER BY m.id LIMIT ${o.limit}
        FOR UPDATE OF m SKIP LOCKED`);
      if (heads.length === 0) return [];
      return tx.any(sql.type(messageRow)`
        UPDATE outbox_messages SET attempts = attempts + 1, locked_until = now() + make_interval(secs => ${o.leaseMs / 1000})
        WHERE id = ANY(${sql.array(
          heads.map((h) => h.id),
          'int8',
        )}) AND status = 'pending'
        RETURNING ${COLUMNS}`);
    });
    return rows.toSorted((a, b) => a.id - b.id).map((r) => this.#decode(r));
  }

  /** Marks a claimed message delivered. */
  @declareAccess({ systemJob: 'the outbox relay' })
  async markDelivered(id: number): Promise<void> {
    const i = parseInput(idInput, id, 'id');
    await withScope(this.postgres.appPool, RELAY_SCOPE, (tx) =>
      tx.query(sql.type(noRows)`UPDATE outbox_messages SET status = 'delivered', delivered_at = now(), locked_until = NULL, last_error = NULL WHERE id = ${i}`),
    );
  }

  /** A failed attempt: due again after `delayMs`. */
  @declareAccess({ systemJob: 'the outbox relay' })
  async reschedule(id: number, delayMs: number, error: string): Promise<void> {
    const i = parseInput(idInput, id, 'id');
    const d = parseInput(z.number().int().min(0).max(86_400_000), delayMs, 'delayMs');
    await withScope(this.postgres.appPool, RELAY_SCOPE, (tx) =>
      tx.query(sql.type(noRows)`
        UPDATE outbox_messages SET next_attempt_at = now() + make_interval(secs => ${d / 1000}), locked_until = NULL, last_error = ${errorText(error)}
        WHERE id = ${i} AND status = 'pending'`),
    );
  }

  /** The last attempt failed: the message moves to the dead letters (and stops holding back its aggregate). */
  @declareAccess({ systemJob: 'the outbox relay' })
  async markDead(id: number, error: string): Promise<void> {
    const i = parseInput(idInput, id, 'id');
    await withScope(this.postgres.appPool, RELAY_SCOPE, (tx) =>
      tx.query(
        sql.type(
          noRows,
        )`UPDATE outbox_messages SET status = 'dead', locked_until = NULL, last_error = ${errorText(error)} WHERE id = ${i} AND status = 'pending'`,
      ),
    );
  }

  /**
   * The dead letters, oldest first: what an operator inspects (payloads decrypted; they may hold link tokens).
   * @throws TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async deadLetters(scope: AdminScope, limit = 100): Promise<readonly OutboxMessage[]> {
    const l = parseInput(z.number().int().min(1).max(1_000), limit, 'limit');
    const rows = await withScope(this.postgres.appPool, { adminActor: scope.actor }, (tx) =>
      tx.any(sql.type(messageRow)`SELECT ${COLUMNS} FROM outbox_messages WHERE status = 'dead' ORDER BY created_at, id LIMIT ${l}`),
    );
    return rows.map((r) => this.#decode(r));
  }

  /**
   * Puts a dead letter back in the queue with its attempts reset (after the cause was fixed).
   * @returns false when no dead letter has this id
   */
  @declareAccess({ adminScope: true })
  async requeue(scope: AdminScope, id: number): Promise<boolean> {
    const i = parseInput(idInput, id, 'id');
    const result = await withScope(this.postgres.appPool, { adminActor: scope.actor }, (tx) =>
      tx.query(
        sql.type(
          noRows,
        )`UPDATE outbox_messages SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL WHERE id = ${i} AND status = 'dead'`,
      ),
    );
    return result.rowCount === 1;
  }

  /**
   * Retention: deletes messages delivered more than `olderThanSeconds` ago (their payloads too).
   * @returns how many were deleted
   */
  @declareAccess({ systemJob: 'retention of delivered outbox messages' })
  async deleteDelivered(olderThanSeconds = 7 * 86_400): Promise<number> {
    const age = parseInput(
      z
        .number()
        .int()
        .min(0)
        .max(3_650 * 86_400),
      olderThanSeconds,
      'olderThanSeconds',
    );
    const result = await withScope(this.postgres.appPool, RELAY_SCOPE, (tx) =>
      tx.query(sql.type(noRows)`DELETE FROM outbox_messages WHERE status = 'delivered' AND delivered_at < now() - make_interval(secs => ${age})`),
    );
    return result.rowCount;
  }

  #decode(r: z.output<typeof messageRow>): OutboxMessage {
    return {
      id: r.id,
      kind: r.kind,
      topic: r.topic,
      aggregateType: r.aggregate_type,
      aggregateId: r.aggregate_id,
      idempotencyKey: r.idempotency_key,
      organizationId: r.organization_id,
      payload: JSON.parse(this.box.decryptString(r.payload, aad(r.idempotency_key))) as Record<string, unknown>,
      status: r.status,
      attempts: r.attempts,
      lastError: r.last_error,
      createdAt: r.created_at,
    };
  }
}
