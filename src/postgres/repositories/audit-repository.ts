import { timeOrderedUuid } from '../../time-ordered-uuid.js';
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { CONFIG } from '../../tokens.js';
import { PostgresConnection } from '../postgres-connection.js';
import { scopedPool, type PostgresScope } from '../with-scope.js';

const AUDIT_WRITER_SCOPE: PostgresScope = Object.freeze({ adminActor: 'audit-writer' });
/**
 * The batch INSERT of appendValidated: one array per column, so the text (a named prepared statement,
 * parsed once per connection) is the same for any batch size. (id, created_at) is the primary key: an
 * event written again (a retried flush) is skipped, not duplicated.
 */
/** The thirteen column arrays of APPEND_DEDUPED (an event without id / occurredAt gets a fresh id / now). */
export function auditColumns(valid: readonly AuditEvent[]): unknown[][] {
  const now = new Date().toISOString();
  const ids: string[] = [];
  const createdAt: string[] = [];
  const types: string[] = [];
  const orgs: (string | null)[] = [];
  const actors: (string | null)[] = [];
  const ips: (string | null)[] = [];
  const agents: (string | null)[] = [];
  const countries: (string | null)[] = [];
  const regions: (string | null)[] = [];
  const risks: number[] = [];
  const details: string[] = [];
  const outcomes: (string | null)[] = [];
  const failureReasons: (string | null)[] = [];
  for (const e of valid) {
    ids.push(e.id ?? timeOrderedUuid());
    createdAt.push(e.occurredAt?.toISOString() ?? now);
    types.push(e.eventType);
    orgs.push(e.organizationId ?? null);
    actors.push(e.actorUserId ?? null);
    ips.push(e.ip ?? null);
    agents.push(e.userAgent ?? null);
    countries.push(e.country ?? null);
    regions.push(e.region ?? null);
    risks.push(e.riskScore);
    details.push(JSON.stringify(e.details));
    outcomes.push(e.outcome ?? null);
    failureReasons.push(e.failureReason ?? null);
  }
  return [ids, createdAt, types, orgs, actors, ips, agents, countries, regions, risks, details, outcomes, failureReasons];
}

const APPEND_DEDUPED = {
  name: 'pd_audit_append_deduped',
  text: `INSERT INTO audit_log (id, created_at, event_type, organization_id, actor_user_id, ip, user_agent, country, region, risk_score, details, outcome, failure_reason)
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::uuid[], $5::uuid[], $6::inet[], $7::text[], $8::text[], $9::text[], $10::int2[], $11::jsonb[], $12::text[], $13::text[])
    ON CONFLICT (id, created_at) DO NOTHING`,
} as const;
import { withTenant } from '../with-tenant.js';
import { type KeysetPage, type KeysetPageInput, microsToTimestamp, parseKeysetPage, sortMicros, toKeysetPage } from './keyset-page.js';
import { noRows } from './no-rows.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { jsonObjectInput } from '../../input-policy.js';
import { ipAddressSchema } from '../../ip-address.js';

/** Largest serialized `details` accepted: an audit row is a record, not a document store. */
export const MAX_AUDIT_DETAILS_BYTES = 16_384;

/** Keys of `details` that may name a user as the subject of an event (pseudonymised too). */
export const AUDIT_SUBJECT_KEYS = ['userId', 'targetUserId', 'subjectUserId'] as const;
/** Keys of `details` removed on pseudonymisation: they identify a person directly. */
export const AUDIT_PII_KEYS = ['email', 'ip', 'userAgent', 'user_agent', 'name', 'displayName', 'display_name', 'phone'] as const;

const ipInput = ipAddressSchema;
const countryInput = z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code, e.g. "DE"');
const regionInput = z.string().regex(/^[A-Z]{2}-[A-Z0-9]{1,3}$/, 'must be an ISO 3166-2 subdivision code, e.g. "DE-BY"');

/** An audit event as recorded by the application. */
export const auditEventInputSchema = z
  .object({
    eventType: z.string().regex(/^[a-z][a-z0-9_.]{0,99}$/, 'must be lowercase dotted, e.g. "auth.login.failed"'),
    organizationId: z.uuid().nullable().optional(),
    actorUserId: z.uuid().nullable().optional(),
    ip: ipInput.nullable().optional(),
    userAgent: z.string().max(1000).nullable().optional(),
    /** ISO 3166-1 alpha-2 country of the request ("DE"), as the application resolved it (no lookup here). */
    country: countryInput.nullable().optional(),
    /** ISO 3166-2 subdivision of the request ("DE-BY"), as the application resolved it. */
    region: regionInput.nullable().optional(),
    /** 0 (routine) to 100 (certain attack); ≥ 70 counts as high risk. */
    riskScore: z.number().int().min(0).max(100).default(0),
    details: jsonObjectInput(MAX_AUDIT_DETAILS_BYTES).default({}),
    /** When it happened; default: when it was recorded (a batching writer stamps it at `record()`). */
    occurredAt: z.date().optional(),
    /** Whether the action succeeded or failed (issue 20, seeds auth_db / CAP Platform); omitted for events that are neither. */
    outcome: z.enum(['success', 'failure']).optional(),
    /** Why a failure failed (e.g. `wrong_password`); only with `outcome: 'failure'`. */
    failureReason: z
      .string()
      .regex(/^[a-z][a-z0-9_.]{0,99}$/, 'must be lowercase, e.g. "wrong_password"')
      .optional(),
    /**
     * The event's id; default: a new one. With `occurredAt` it is the row's key, so writing the same
     * event twice (a flush retried after an answer was lost) stores it once (`ON CONFLICT DO NOTHING`).
     */
    id: z.uuid().optional(),
  })
  .strict()
  .refine((e) => e.failureReason === undefined || e.outcome === 'failure', { message: 'needs outcome "failure"', path: ['failureReason'] });
export type AuditEventInput = z.input<typeof auditEventInputSchema>;

/**
 * An event of a change made by `ctx` in its organization: the acting user
 * (for an API key, its creator), and in `details` how they acted (`via`:
 * user, apiKey or systemJob; `apiKeyId` for a key) next to `details`.
 */
export function tenantAuditEvent(ctx: TenantContext, eventType: string, details: Record<string, unknown>, riskScore = 0): AuditEventInput {
  const via = ctx.actor.kind === 'apiKey' ? { via: 'apiKey', apiKeyId: ctx.actor.keyId } : { via: ctx.actor.kind };
  return { eventType, organizationId: ctx.organizationId, actorUserId: ctx.userId, riskScore, details: { ...details, ...via } };
}
export type AuditEvent = z.output<typeof auditEventInputSchema>;

export interface AuditRecord {
  readonly id: string;
  readonly createdAt: Date;
  readonly eventType: string;
  readonly organizationId: string | null;
  readonly actorUserId: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  /** ISO 3166-1 alpha-2 country, when the application supplied it. */
  readonly country: string | null;
  /** ISO 3166-2 subdivision, when the application supplied it. */
  readonly region: string | null;
  readonly riskScore: number;
  readonly details: Readonly<Record<string, unknown>>;
  /** `success` / `failure`, or null for events that are neither (and rows written before migration 0080). */
  readonly outcome: 'success' | 'failure' | null;
  readonly failureReason: string | null;
}

const shape = {
  id: z.uuid(),
  created_at: z.date(),
  event_type: z.string(),
  organization_id: z.uuid().nullable(),
  actor_user_id: z.uuid().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  country: z.string().nullable(),
  region: z.string().nullable(),
  risk_score: z.number(),
  details: z.record(z.string(), z.unknown()),
  outcome: z.enum(['success', 'failure']).nullable(),
  failure_reason: z.string().nullable(),
};
const listRow = z.object({ ...shape, sort_us: z.number() }).transform((r) => ({
  item: {
    id: r.id,
    createdAt: r.created_at,
    eventType: r.event_type,
    organizationId: r.organization_id,
    actorUserId: r.actor_user_id,
    ip: r.ip,
    userAgent: r.user_agent,
    country: r.country,
    region: r.region,
    riskScore: r.risk_score,
    details: r.details,
    outcome: r.outcome,
    failureReason: r.failure_reason,
  } satisfies AuditRecord,
  position: { us: r.sort_us, id: r.id },
}));

const queryInput = z
  .object({
    actorUserId: z.uuid().optional(),
    eventTypes: z
      .array(z.string().regex(/^[a-z][a-z0-9_.]{0,99}$/))
      .min(1)
      .max(50)
      .optional(),
    from: z.date().optional(),
    to: z.date().optional(),
    minRiskScore: z.number().int().min(0).max(100).optional(),
  })
  .strict()
  .default({});
export type AuditQuery = z.input<typeof queryInput>;

/** How {@link AuditRepository.query} reads. */
export interface AuditReadOptions {
  /**
   * See every event this process recorded before the call: the container's
   * `AuditWriter` flushes its queue first, and the read goes to the primary
   * (never a lagging standby). Costs a flush; default false (the lag-tolerant read).
   */
  readonly readYourWrites?: boolean;
}
const readOptionsInput = z.object({ readYourWrites: z.boolean().optional() }).strict().default({});

const countRow = z.object({ count: z.number() });

/**
 * The audit log (monthly partitions of `audit_log`).
 *
 * Pools: `query` reads the current organization's events through `withTenant`.
 * `append` is the batching writer's sink and runs on the owner pool: one batch
 * mixes organizations and organization-less events (failed logins for unknown
 * emails), which the application role's insert policy cannot accept in one
 * statement. Retention and pseudonymisation are maintenance (owner pool).
 */
@injectable()
@accessControlled
export class AuditRepository {
  readonly #flushPending = new Set<() => Promise<void>>();

  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(CONFIG) private readonly config: Config,
  ) {}

  /**
   * Called by each `AuditWriter` over this repository (one per container): what `query(…, { readYourWrites: true })` runs before reading.
   */
  @declareAccess({ systemJob: 'wiring: the AuditWriter of the same container registers its flush' })
  flushBeforeReadYourWrites(flush: () => Promise<void>): void {
    this.#flushPending.add(flush);
  }

  /**
   * Validates events; what {@link append} and the writer's `record()` run first.
   * @throws ValidationError naming the field, prefixed `events.<index>` when `index` is given
   */
  @declareAccess({ preTenant: 'validation only; touches no store' })
  validate(event: AuditEventInput, index?: number): AuditEvent {
    return parseInput(auditEventInputSchema, event, index === undefined ? undefined : `events.${index}`);
  }

  /**
   * Writes events with ONE multi-row INSERT (`unnest` of column arrays, so the
   * statement text and its parameter count are the same for any batch size).
   * Events that carry an `id` and `occurredAt` already stored are skipped.
   * @returns how many rows were written (skipped duplicates not counted)
   * @throws ValidationError naming `events.<i>.<field>` (nothing is written then)
   */
  @declareAccess({ systemJob: 'the audit trail is written by the platform itself, never by a tenant caller' })
  async append(events: readonly AuditEventInput[]): Promise<number> {
    return this.appendValidated(events.map((e, i) => this.validate(e, i)));
  }

  /**
   * {@link append} for events that already went through {@link validate} (the
   * batching writer validates on `record()`, so a flush does not parse twice).
   */
  @declareAccess({ systemJob: 'the audit trail is written by the platform itself, never by a tenant caller' })
  async appendValidated(valid: readonly AuditEvent[]): Promise<number> {
    // In an admin scope named after the writer: the batch spans organizations, and `ON CONFLICT` (the
    // de-duplication of a retried flush) needs the new rows to be visible to the writer (PostgreSQL checks
    // INSERT … ON CONFLICT rows against the SELECT policies too).
    // One round trip (PostgresConnection.scopedCommand): the scope's settings and the INSERT travel as one
    // pipeline that PostgreSQL runs as one implicit transaction, committed before this resolves.
    if (valid.length === 0) return 0;
    return this.postgres.scopedCommand(AUDIT_WRITER_SCOPE, APPEND_DEDUPED, auditColumns(valid));
  }

  /**
   * Writes `events` in the caller's transaction `tx`: a security event is then
   * durable exactly when the change it records is (no batching window, no loss
   * on a crash, no duplicate on a retry of the transaction). Under a tenant
   * context, each event's organization must be the context's (row-level security).
   * @throws ValidationError naming `events.<i>.<field>`
   */
  @declareAccess({ systemJob: 'the audit trail is written by the platform itself, never by a tenant caller' })
  async appendWithin(tx: CommonQueryMethods, events: readonly AuditEventInput[]): Promise<number> {
    // Fresh ids in the change's own transaction: a retry of the transaction rolls them back with it, so
    // there is nothing to de-duplicate (and no SELECT visibility needed, e.g. in a user's own scope).
    return this.#insert(
      tx,
      events.map((e, i) => this.validate(e, i)),
    );
  }

  async #insert(connection: CommonQueryMethods, valid: readonly AuditEvent[]): Promise<number> {
    if (valid.length === 0) return 0;
    const now = new Date().toISOString();
    const tuples = valid.map((e) => [
      e.id ?? timeOrderedUuid(),
      e.occurredAt?.toISOString() ?? now,
      e.eventType,
      e.organizationId ?? null,
      e.actorUserId ?? null,
      e.ip ?? null,
      e.userAgent ?? null,
      e.country ?? null,
      e.region ?? null,
      e.riskScore,
      JSON.stringify(e.details),
      e.outcome ?? null,
      e.failureReason ?? null,
    ]);
    // Named: sql.unnest's text is the same for any number of events, and every sign-in runs it.
    const result = await connection.query(sql.prepared('pd_audit_insert_within', noRows)`
      INSERT INTO audit_log (id, created_at, event_type, organization_id, actor_user_id, ip, user_agent, country, region, risk_score, details, outcome, failure_reason)
      SELECT * FROM ${sql.unnest(tuples, ['uuid', 'timestamptz', 'text', 'uuid', 'uuid', 'inet', 'text', 'text', 'text', 'int2', 'jsonb', 'text', 'text'])}`);
    return result.rowCount;
  }

  /**
   * The current organization's events, newest first, filtered by actor, types,
   * time range (`from` inclusive, `to` exclusive) and minimum risk.
   * @throws ValidationError naming `filter.<field>` or `page.<field>`
   */
  @declareAccess({ requires: 'audit:read' })
  async query(ctx: TenantContext, filter?: AuditQuery, page?: KeysetPageInput, options?: AuditReadOptions): Promise<KeysetPage<AuditRecord>> {
    const f = parseInput(queryInput, filter, 'filter');
    const { readYourWrites } = parseInput(readOptionsInput, options, 'options');
    const { limit, position } = parseKeysetPage(page);
    const conditions = [
      sql.fragment`organization_id = ${ctx.organizationId}`,
      f.actorUserId === undefined ? undefined : sql.fragment`actor_user_id = ${f.actorUserId}`,
      f.eventTypes === undefined ? undefined : sql.fragment`event_type = ANY(${sql.array(f.eventTypes, 'text')})`,
      f.from === undefined ? undefined : sql.fragment`created_at >= ${sql.timestamp(f.from)}`,
      f.to === undefined ? undefined : sql.fragment`created_at < ${sql.timestamp(f.to)}`,
      f.minRiskScore === undefined ? undefined : sql.fragment`risk_score >= ${f.minRiskScore}`,
      position === undefined ? undefined : sql.fragment`(created_at, id) < (${microsToTimestamp(position.us)}, ${position.id})`,
    ].filter((c) => c !== undefined);
    if (readYourWrites) await Promise.all([...this.#flushPending].map((flush) => flush()));
    // Lag-tolerant unless asked: events arrive through the batching AuditWriter, so the default read never promised
    // read-your-writes (docs/scaling.md); with `readYourWrites` the writer has flushed and the primary answers.
    const read = <T>(work: (pool: DatabasePool) => Promise<T>): Promise<T> =>
      readYourWrites ? work(this.postgres.appPool) : this.postgres.readLagTolerant(work);
    const rows = await read((pool) =>
      withTenant(pool, ctx, (tx) =>
        tx.any(sql.type(listRow)`
          SELECT id, created_at, event_type, organization_id, actor_user_id, host(ip) AS ip, user_agent, country, region, risk_score, details, outcome, failure_reason,
                 ${sortMicros(sql.fragment`created_at`)} AS sort_us
          FROM audit_log
          WHERE ${sql.join(conditions, sql.fragment` AND `)}
          ORDER BY created_at DESC, id DESC
          LIMIT ${limit + 1}`),
      ),
    );
    return toKeysetPage(rows, limit);
  }

  /**
   * GDPR erasure for the audit trail: every event naming `userId` — as actor, or
   * under one of {@link AUDIT_SUBJECT_KEYS} in `details` — gets one random
   * pseudonym (the same for all of them, so a sequence of events stays
   * readable; no mapping is kept, so it cannot be reversed), and loses its ip,
   * user agent and the {@link AUDIT_PII_KEYS} of `details`.
   * Scans `details` of every partition: rare, and cheaper than an index kept for it.
   * @returns how many events were pseudonymised
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ systemJob: 'erasure of a user' })
  async pseudonymiseUser(userId: string): Promise<number> {
    const id = parseInput(uuidInput, userId, 'userId');
    const subjectKeys = sql.array([...AUDIT_SUBJECT_KEYS], 'text');
    const piiKeys = sql.array([...AUDIT_PII_KEYS], 'text');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: 'erasure' }).oneFirst(sql.type(countRow)`
        WITH pseudonym AS (SELECT gen_random_uuid() AS value),
        changed AS (
          UPDATE audit_log a SET
            actor_user_id = CASE WHEN a.actor_user_id = ${id} THEN p.value ELSE a.actor_user_id END,
            ip = NULL,
            user_agent = NULL,
            country = NULL,
            region = NULL,
            details = coalesce((
              SELECT jsonb_object_agg(e.key,
                       CASE WHEN e.key = ANY(${subjectKeys}) AND e.value = to_jsonb(${id}::text) THEN to_jsonb(p.value::text) ELSE e.value END)
              FROM jsonb_each(a.details) e
              WHERE NOT (e.key = ANY(${piiKeys}))
            ), '{}'::jsonb)
          FROM pseudonym p
          WHERE a.actor_user_id = ${id}
             OR EXISTS (SELECT 1 FROM jsonb_each(a.details) e WHERE e.key = ANY(${subjectKeys}) AND e.value = to_jsonb(${id}::text))
          RETURNING 1
        )
        SELECT count(*)::int AS count FROM changed`),
    );
  }

  /**
   * Creates the partitions for this month and `monthsAhead` following ones (idempotent).
   * @returns how many partitions were created
   * @throws ValidationError naming `monthsAhead` (0–36)
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async ensurePartitions(monthsAhead = 3): Promise<number> {
    const months = parseInput(z.number().int().min(0).max(36), monthsAhead, 'monthsAhead');
    return withPostgresErrors(() =>
      this.postgres.ownerPool.oneFirst(sql.type(z.object({ created: z.number() }))`
        SELECT audit_log_ensure_partitions(${months}::int) AS created`),
    );
  }

  /**
   * Retention: drops monthly partitions entirely older than `days` (default `retention.auditDays`).
   * @returns the names of the dropped partitions
   * @throws ValidationError naming `days`
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async dropPartitionsOlderThan(days: number = this.config.retention.auditDays): Promise<readonly string[]> {
    const d = parseInput(z.number().int().min(1).max(36_500), days, 'days');
    return withPostgresErrors(() =>
      this.postgres.ownerPool.anyFirst(sql.type(z.object({ name: z.string() }))`
        SELECT audit_log_drop_partitions(${d}::int) AS name`),
    );
  }
}
