import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { parseInput } from '../../parse-input.js';
import { generateSecretToken, hashToken } from '../../security/secret-token.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { CONFIG } from '../../tokens.js';
import { PostgresConnection } from '../postgres-connection.js';
import { parseResultRow, preparedStatement } from '../prepared-statement.js';
import { AuditRepository, auditColumns, type AuditEventInput } from './audit-repository.js';
import { createSessionInput, sessionRecordRow, type CreateSessionInput, type RevokedSession, type SessionRecord } from './session-repository.js';

/** What the sign-in's one statement wrote (or, for a user who may not hold a session, did not write). */
export type SignInSessionOutcome =
  | {
      /** The user's status, read under FOR SHARE after the sign-in lock: `active` or `pending_verification`. */
      readonly status: string;
      readonly session: SessionRecord;
      /** The opaque refresh token, shown once; only its SHA-256 is stored. */
      readonly refreshToken: string;
      /** The oldest sessions the concurrent-session limit revoked (for their Redis half after the commit). */
      readonly revoked: readonly RevokedSession[];
    }
  | {
      /** Any other status (`suspended`, `locked`, `deleted`), or null when the user row is gone: nothing was written. */
      readonly status: string | null;
      readonly session?: undefined;
    };

export interface SignInSessionInput {
  /** The new session's id (chosen here so the audit events can name it before the statement runs). */
  readonly sessionId: string;
  readonly session: CreateSessionInput;
  /** How many of the user's other live sessions in the organization may remain; older ones are revoked. */
  readonly keepOthers: number;
  readonly revokeReason: string;
  /** The sign-in's audit events (e.g. `auth.login.succeeded`), written in the same transaction. */
  readonly events: readonly AuditEventInput[];
}

const input = z.object({ sessionId: z.uuid(), keepOthers: z.number().int().min(0).max(1000), revokeReason: z.string().min(1).max(200) });
const revokedItem = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    organization_id: z.uuid(),
    access_token_jti: z.string(),
    expires_at: z.coerce.date(),
    cache_revocation_id: z.number().int(),
  })
  .transform((r): RevokedSession => ({
    id: r.id,
    userId: r.user_id,
    organizationId: r.organization_id,
    accessTokenJti: r.access_token_jti,
    expiresAt: r.expires_at,
    cacheRevocationId: r.cache_revocation_id,
  }));
/** The status and revocations; the session's columns are validated by SessionRepository's row schema when present. */
const outcomeRow = z.looseObject({ status: z.string().nullable(), revoked: z.array(revokedItem).nullable(), id: z.uuid().nullable() });

const S = '(i.session)';
/** sql/0120: the whole issuing transaction, sent with the tenant settings in one pipeline (one round trip, one transaction). */
const ISSUE_SIGN_IN_SESSION = preparedStatement(
  'pd_issue_sign_in_session',
  `SELECT i.status, i.revoked, ${S}.id, ${S}.user_id, ${S}.organization_id, ${S}.access_token_jti, ${S}.device, host(${S}.ip) AS ip,
          ${S}.user_agent, ${S}.created_at, ${S}.last_seen_at, ${S}.expires_at, ${S}.confirmed_at,
          coalesce(${S}.absolute_expires_at, ${S}.expires_at) AS absolute_expires_at, ${S}.revoked_at, ${S}.revoked_reason
   FROM platform_issue_sign_in_session($1, $2, $3, $4, $5, $6::inet, $7, $8, $9, $10, $11, $12, $13, $14, $15,
     $16::uuid[], $17::timestamptz[], $18::text[], $19::uuid[], $20::uuid[], $21::inet[], $22::text[], $23::text[], $24::text[],
     $25::int2[], $26::jsonb[], $27::text[], $28::text[]) i`,
  outcomeRow,
);

/**
 * A sign-in's issuing transaction (SessionIssuer) in ONE round trip: under the advisory lock that
 * serialises the user's sign-ins in the organization, the user's status under FOR SHARE, then — only
 * for a status that may hold a session — the session row, its refresh token, the sign-in's audit events
 * and the concurrent-session limit (oldest sessions revoked with their refresh tokens, queued Redis halves
 * and audit events). One statement (sql/0120, a SECURITY INVOKER function: the application role under
 * row-level security and the tenant settings, as the separate statements ran) sent with the tenant
 * settings in one pipeline (`PostgresConnection.tenantQuery`), so all of it commits together or not at
 * all. docs/benchmarks.md, "Issue 22, fourth round: login".
 */
@injectable()
@accessControlled
export class SignInSessionRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly audit: AuditRepository,
    @inject(CONFIG) private readonly config: Config,
  ) {}

  /**
   * Creates the session of a sign-in for `ctx.userId` in `ctx.organizationId`, with everything that must
   * exist with it (see the class).
   * @returns the status found and, when it may hold a session, what was written; otherwise nothing was written
   * @throws ValidationError naming the invalid field (`sessionId`, `keepOthers`, `revokeReason`, the session's fields, `events.<i>.<field>`)
   * @throws ConflictError `sessions_access_token_jti_key` when the jti is already used; StoreUnavailableError;
   *   PlatformError `RESULT_INVALID` when the row does not match its schema
   */
  @declareAccess({ ownAccount: true })
  async issue(ctx: TenantContext, request: SignInSessionInput): Promise<SignInSessionOutcome> {
    const d = parseInput(input, { sessionId: request.sessionId, keepOthers: request.keepOthers, revokeReason: request.revokeReason });
    const data = parseInput(createSessionInput, request.session);
    const events = auditColumns(request.events.map((e, i) => this.audit.validate(e, i)));
    const ttl = data.ttlSeconds ?? this.config.auth.sessionTtlSeconds;
    const window = data.confirmWindowSeconds === undefined ? null : Math.min(data.confirmWindowSeconds, ttl);
    const token = generateSecretToken();
    const [row] = await this.postgres.tenantQuery(ctx, ISSUE_SIGN_IN_SESSION, [
      d.sessionId,
      ctx.userId,
      ctx.organizationId,
      data.accessTokenJti,
      data.device ?? null,
      data.ip ?? null,
      data.userAgent ?? null,
      ttl,
      window,
      randomUUID(),
      hashToken(token),
      randomUUID(),
      // The refresh token lives as long as the platform's session lifetime allows, capped by this session's.
      this.config.auth.sessionTtlSeconds,
      d.keepOthers,
      d.revokeReason,
      ...events,
    ]);
    if (row === undefined || row.id === null) return { status: row?.status ?? null };
    return { status: row.status!, session: parseResultRow(sessionRecordRow, row), refreshToken: token, revoked: row.revoked ?? [] };
  }
}
