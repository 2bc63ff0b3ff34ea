import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { CONFIG } from '../../tokens.js';
import { PostgresConnection } from '../postgres-connection.js';
import { preparedStatement } from '../prepared-statement.js';
import { withScope } from '../with-scope.js';
import { withTenant } from '../with-tenant.js';
import { type KeysetPage, type KeysetPageInput, microsToTimestamp, parseKeysetPage, sortMicros, toKeysetPage } from './keyset-page.js';
import { AuditRepository, type AuditEventInput } from './audit-repository.js';
import { noRows } from './no-rows.js';
import { SessionCacheRevocationRepository } from './session-cache-revocation-repository.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { ipAddressSchema } from '../../ip-address.js';

export interface SessionRecord {
  readonly id: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly accessTokenJti: string;
  readonly device: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly createdAt: Date;
  readonly lastSeenAt: Date;
  /** When the session ends: its confirmation window while unconfirmed, then its absolute expiry. */
  readonly expiresAt: Date;
  /** When its first validation or refresh confirmed it (sql/0116); null while unconfirmed. */
  readonly confirmedAt: Date | null;
  /** The expiry confirmation gives (equal to `expiresAt` once confirmed). */
  readonly absoluteExpiresAt: Date;
  readonly revokedAt: Date | null;
  readonly revokedReason: string | null;
}

export interface RevokeOptions {
  /** Audit events of the revocation (given what was revoked; not called when nothing was), written in its transaction. */
  readonly events?: (revoked: readonly RevokedSession[]) => readonly AuditEventInput[];
}

/** What a revocation returns: enough to evict caches and deny the access token. */
export interface RevokedSession {
  readonly id: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly accessTokenJti: string;
  readonly expiresAt: Date;
  /** Its Redis half, queued in `session_cache_revocations` by the revoking transaction; delete it once Redis took the revocation. */
  readonly cacheRevocationId: number;
}

const shape = {
  id: z.uuid(),
  user_id: z.uuid(),
  organization_id: z.uuid(),
  access_token_jti: z.string(),
  device: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  created_at: z.date(),
  last_seen_at: z.date(),
  expires_at: z.date(),
  confirmed_at: z.date().nullable(),
  absolute_expires_at: z.date(),
  revoked_at: z.date().nullable(),
  revoked_reason: z.string().nullable(),
};
type RawRow = z.infer<z.ZodObject<typeof shape>>;

function toRecord(r: RawRow): SessionRecord {
  return {
    id: r.id,
    userId: r.user_id,
    organizationId: r.organization_id,
    accessTokenJti: r.access_token_jti,
    device: r.device,
    ip: r.ip,
    userAgent: r.user_agent,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    expiresAt: r.expires_at,
    confirmedAt: r.confirmed_at,
    absoluteExpiresAt: r.absolute_expires_at,
    revokedAt: r.revoked_at,
    revokedReason: r.revoked_reason,
  };
}

/** A `sessions` row (COLUMNS' shape) as a SessionRecord; also the issuing function's (SignInSessionRepository). */
export const sessionRecordRow = z.object(shape).transform(toRecord);
const listRow = z.object({ ...shape, sort_us: z.number() }).transform((r) => ({ item: toRecord(r), position: { us: r.sort_us, id: r.id } }));
const revokedRow = z.object({ id: z.uuid(), user_id: z.uuid(), organization_id: z.uuid(), access_token_jti: z.string(), expires_at: z.date() });

// ip is text in, inet in the table: validated here so a typo is a ValidationError naming `ip`, not a driver error.
const ipInput = ipAddressSchema;

/** A new session's fields (also validated by SignInSessionRepository). */
export const createSessionInput = z
  .object({
    accessTokenJti: z.string().min(1).max(128),
    device: z.string().max(200).optional(),
    ip: ipInput.optional(),
    userAgent: z.string().max(1000).optional(),
    /** Lifetime in seconds; default `auth.sessionTtlSeconds`. */
    ttlSeconds: z
      .number()
      .int()
      .min(60)
      .max(86_400 * 365)
      .optional(),
    /**
     * Create the session unconfirmed, living this many seconds (at most its lifetime) until its first
     * validation or refresh confirms it ({@link SessionRepository.confirm}); default: confirmed at creation.
     */
    confirmWindowSeconds: z.number().int().min(1).max(86_400).optional(),
  })
  .strict();
export type CreateSessionInput = z.input<typeof createSessionInput>;

const reasonInput = z.string().min(1).max(200);
const jtiInput = z.string().min(1).max(128);
// Built once (a z.object built per call is compiled again on its first parse): these run in every sign-in.

const COLUMNS = sql.fragment`id, user_id, organization_id, access_token_jti, device, host(ip) AS ip, user_agent,
  created_at, last_seen_at, expires_at, confirmed_at, coalesce(absolute_expires_at, expires_at) AS absolute_expires_at, revoked_at, revoked_reason`;

// The cache-miss path of every validation: named statements on the hot-path pool (docs/architecture.md, "Hot paths").
// COLUMNS has no parameters, so its text is plain SQL. Exported (not from the package) for the benchmarks' baseline.
export const SESSION_BY_ID = preparedStatement('pd_session_by_id', `SELECT ${COLUMNS.sql} FROM platform_auth.session_by_id($1)`, sessionRecordRow);
const SESSION_BY_JTI = preparedStatement('pd_session_by_jti', `SELECT ${COLUMNS.sql} FROM platform_auth.session_by_jti($1)`, sessionRecordRow);
/** $1 user, $2/$3 the keyset position (epoch microseconds, id) or nulls, $4 the limit. */
const ACTIVE_SESSIONS_OF_USER = preparedStatement(
  'pd_active_sessions_of_user',
  `SELECT ${COLUMNS.sql}, (extract(epoch FROM created_at) * 1000000)::int8 AS sort_us
   FROM sessions
   WHERE user_id = $1::uuid AND revoked_at IS NULL AND expires_at > now()
     AND ($2::int8 IS NULL OR (created_at, id) < (to_timestamp(0) + $2::int8 * interval '1 microsecond', $3::uuid))
   ORDER BY created_at DESC, id DESC
   LIMIT $4::int4`,
  listRow,
);

/**
 * Sessions, the durable record behind the Redis session cache.
 *
 * All on the application role: `create` and `listForOrganization` are tenant
 * work (`withTenant`). `get`, `touch`, `revoke`, `revokeAllForUser` and
 * `listActiveForUser` serve the auth paths (validating a request that only
 * carries a session id or jti, logging out, suspending a user across every
 * organization): `get` and `touch` call `platform_auth` functions, the others
 * run in the session owner's user scope; callers authorise them first
 * (docs/security.md, "Least privilege at run time").
 */
@injectable()
@accessControlled
export class SessionRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(CONFIG) private readonly config: Config,
    @inject(SessionCacheRevocationRepository) private readonly cacheRevocations: SessionCacheRevocationRepository,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Creates a session for `ctx.userId` in `ctx.organizationId`.
   * @throws ValidationError naming the invalid field (`accessTokenJti`, `ip`, `device`, `userAgent`, `ttlSeconds`)
   * @throws ConflictError `sessions_access_token_jti_key` when the jti is already used
   */
  @declareAccess({ ownAccount: true })
  async create(ctx: TenantContext, input: CreateSessionInput): Promise<SessionRecord> {
    const [session] = await this.createWith(ctx, input, async () => undefined);
    return session;
  }

  /**
   * {@link create}, plus `within(tx, session)` in the same transaction (under the
   * same tenant context): what must exist together with the session or not at
   * all — its refresh token, the sign-in's audit event. An error in `within`
   * rolls the session back.
   * @throws ValidationError naming the invalid field; whatever `within` throws
   */
  @declareAccess({ ownAccount: true })
  async createWith<T>(
    ctx: TenantContext,
    input: CreateSessionInput,
    within: (tx: DatabaseTransactionConnection, session: SessionRecord) => Promise<T>,
  ): Promise<[SessionRecord, T]> {
    const data = parseInput(createSessionInput, input);
    const ttl = data.ttlSeconds ?? this.config.auth.sessionTtlSeconds;
    const window = data.confirmWindowSeconds === undefined ? undefined : Math.min(data.confirmWindowSeconds, ttl);
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      // A named statement (one text for confirmed and unconfirmed sessions): parsed and planned once per connection.
      const session = await tx.one(sql.prepared('pd_session_insert', sessionRecordRow)`
        INSERT INTO sessions (user_id, organization_id, access_token_jti, device, ip, user_agent, expires_at, absolute_expires_at, confirmed_at)
        VALUES (${ctx.userId}, ${ctx.organizationId}, ${data.accessTokenJti}, ${data.device ?? null},
                ${data.ip ?? null}::inet, ${data.userAgent ?? null}, now() + make_interval(secs => ${window ?? ttl}),
                now() + make_interval(secs => ${ttl}), CASE WHEN ${window === undefined}::boolean THEN now() END)
        RETURNING ${COLUMNS}`);
      return [session, await within(tx, session)];
    });
  }

  /**
   * The session, revoked or not, or `undefined`.
   * @throws ValidationError naming `id`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async get(id: string): Promise<SessionRecord | undefined> {
    const sessionId = parseInput(uuidInput, id, 'id');
    return this.postgres.preparedOne(SESSION_BY_ID, [sessionId]);
  }

  /**
   * The session holding access-token `jti`, or `undefined`.
   * @throws ValidationError naming `jti`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async getByJti(jti: string): Promise<SessionRecord | undefined> {
    const value = parseInput(jtiInput, jti, 'jti');
    return this.postgres.preparedOne(SESSION_BY_JTI, [value]);
  }

  /**
   * Confirms a new session at its first use (sql/0116): a live unconfirmed session gets its absolute expiry, in
   * one UPDATE that of two concurrent confirmations only one performs. Any other session is returned as it is.
   * @returns the session after the call (check `revokedAt` / `expiresAt` / `confirmedAt`), or `undefined` when unknown
   * @throws ValidationError naming `id`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async confirm(id: string): Promise<SessionRecord | undefined> {
    const sessionId = parseInput(uuidInput, id, 'id');
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(sessionRecordRow)`SELECT ${COLUMNS} FROM platform_auth.confirm_session(${sessionId})`),
    );
    return row ?? undefined;
  }

  /**
   * Records activity on an active session. Throttled: the row is written only when
   * `last_seen_at` is older than `minIntervalSeconds` (default 60), so the hot
   * validation path costs at most one write per session per minute.
   * @returns true when the row was written
   * @throws ValidationError naming `id` / `minIntervalSeconds`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async touch(id: string, minIntervalSeconds = 60): Promise<boolean> {
    const input = parseInput(z.object({ id: z.uuid(), minIntervalSeconds: z.number().int().min(0).max(86_400) }), { id, minIntervalSeconds });
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        SELECT id FROM platform_auth.touch_session(${input.id}, ${input.minIntervalSeconds}) AS t(id)`),
    );
    return row !== null;
  }

  /**
   * Revokes one session and its refresh tokens in one transaction.
   * @returns the revoked session, or `undefined` when it does not exist or was already revoked
   * @throws ValidationError naming `id` / `reason`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revoke(id: string, reason: string, options: RevokeOptions = {}): Promise<RevokedSession | undefined> {
    const input = parseInput(z.object({ id: z.uuid(), reason: reasonInput }), { id, reason });
    const session = await this.get(input.id);
    if (!session) return undefined;
    const rows = await this.#revokeWhere(session.userId, sql.fragment`id = ${input.id}`, input.reason, options);
    return rows[0];
  }

  /**
   * Revokes every active session of a user in every organization (logout
   * everywhere, suspension), with their refresh tokens, in one transaction.
   * @returns the sessions revoked by this call (ids and jtis for the Redis denylist)
   * @throws ValidationError naming `userId` / `reason`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeAllForUser(userId: string, reason: string, options: RevokeOptions = {}): Promise<readonly RevokedSession[]> {
    const input = parseInput(z.object({ userId: z.uuid(), reason: reasonInput }), { userId, reason });
    return this.#revokeWhere(input.userId, sql.fragment`user_id = ${input.userId}`, input.reason, options);
  }

  /**
   * {@link revokeAllForUser} in the caller's transaction `tx`, which must be in the user's own scope (e.g.
   * `AccountRepository.changePassword`'s): the sessions a password change or reset ends are revoked by the
   * transaction that changes the password, so no crash can leave the password changed and the old sessions live.
   * `keepSessionId` spares the caller's own session (a password change by a signed-in user).
   * @throws ValidationError naming `userId` / `reason` / `keepSessionId`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeAllForUserWithin(
    tx: DatabaseTransactionConnection,
    userId: string,
    reason: string,
    options: RevokeOptions & { readonly keepSessionId?: string } = {},
  ): Promise<readonly RevokedSession[]> {
    const input = parseInput(z.object({ userId: z.uuid(), reason: reasonInput, keepSessionId: z.uuid().optional() }), {
      userId,
      reason,
      keepSessionId: options.keepSessionId,
    });
    const keep = input.keepSessionId === undefined ? sql.fragment`` : sql.fragment`AND id <> ${input.keepSessionId}`;
    return this.#revokeIn(tx, sql.fragment`user_id = ${input.userId} ${keep}`, input.reason, options);
  }

  /**
   * In the user's own scope (their sessions in every organization, nobody else's): revokes, and queues each
   * session's Redis half and writes the audit events in the same transaction.
   */
  async #revokeWhere(userId: string, condition: ReturnType<typeof sql.fragment>, reason: string, options: RevokeOptions): Promise<readonly RevokedSession[]> {
    return withScope(this.postgres.appPool, { userId }, (tx) => this.#revokeIn(tx, condition, reason, options));
  }

  async #revokeIn(
    tx: DatabaseTransactionConnection,
    condition: ReturnType<typeof sql.fragment>,
    reason: string,
    options: RevokeOptions,
  ): Promise<readonly RevokedSession[]> {
    {
      const revoked = await tx.any(sql.type(revokedRow)`
          UPDATE sessions SET revoked_at = now(), revoked_reason = ${reason}
          WHERE ${condition} AND revoked_at IS NULL
          RETURNING id, user_id, organization_id, access_token_jti, expires_at`);
      if (revoked.length > 0) {
        await tx.query(sql.type(noRows)`
            UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = ${reason}, replacement_token_encrypted = NULL
            WHERE session_id = ANY(${sql.array(
              revoked.map((s) => s.id),
              'uuid',
            )}) AND revoked_at IS NULL`);
      }
      const queued = await this.cacheRevocations.queueWithin(
        tx,
        revoked.map((r) => ({ userId: r.user_id, sessionId: r.id, accessTokenJti: r.access_token_jti, expiresAt: r.expires_at })),
      );
      const queuedId = new Map(queued.map((q) => [q.sessionId, q.id]));
      const result = revoked.map((r): RevokedSession => ({
        id: r.id,
        userId: r.user_id,
        organizationId: r.organization_id,
        accessTokenJti: r.access_token_jti,
        expiresAt: r.expires_at,
        cacheRevocationId: queuedId.get(r.id)!,
      }));
      const events = result.length > 0 ? (options.events?.(result) ?? []) : [];
      if (events.length > 0) await this.audit.appendWithin(tx, events);
      return result;
    }
  }

  /**
   * Active (unrevoked, unexpired) sessions of a user across organizations, newest first.
   * @throws ValidationError naming `userId` or `page.*`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async listActiveForUser(userId: string, page?: KeysetPageInput): Promise<KeysetPage<SessionRecord>> {
    const id = parseInput(uuidInput, userId, 'userId');
    const { limit, position } = parseKeysetPage(page);
    // Every sign-in reads this (the risk score's known devices): the user's scope and the read in one round trip.
    const rows = await this.postgres.scopedQuery({ userId: id }, ACTIVE_SESSIONS_OF_USER, [id, position?.us ?? null, position?.id ?? null, limit + 1]);
    return toKeysetPage(rows, limit);
  }

  /**
   * Sessions of the current organization (active and revoked), oldest first.
   * @throws ValidationError naming `page.*`
   */
  @declareAccess({ requires: 'sessions:read' })
  async listForOrganization(ctx: TenantContext, page?: KeysetPageInput): Promise<KeysetPage<SessionRecord>> {
    const { limit, position } = parseKeysetPage(page);
    const rows = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(listRow)`
        SELECT ${COLUMNS}, ${sortMicros(sql.fragment`created_at`)} AS sort_us
        FROM sessions
        WHERE organization_id = ${ctx.organizationId}
          ${position ? sql.fragment`AND (created_at, id) > (${microsToTimestamp(position.us)}, ${position.id})` : sql.fragment``}
        ORDER BY created_at, id
        LIMIT ${limit + 1}`),
    );
    return toKeysetPage(rows, limit);
  }
}
