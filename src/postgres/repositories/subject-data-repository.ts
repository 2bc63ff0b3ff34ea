import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError } from '../../errors.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { PostgresConnection } from '../postgres-connection.js';
import { scopedPool } from '../with-scope.js';
import { AUDIT_SUBJECT_KEYS } from './audit-repository.js';
import { noRows } from './no-rows.js';
import { parseInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** An organization the user is the only owner of: erasure refuses until ownership is handed over. */
export interface SoleOwnership {
  readonly organizationId: string;
  readonly slug: string;
  readonly otherMembers: number;
}

/** Per table, how many rows (still) name the subject. Only tables with rows appear. */
export type RowCounts = Readonly<Record<string, number>>;

/** One exported item: `kind` names the table, `data` is the row without secrets (no hashes, no ciphertexts, no token ids). */
export interface ExportedRow {
  readonly kind: string;
  readonly data: Readonly<Record<string, unknown>>;
}

const uuid = z.uuid();
const countsRow = z.object({ kind: z.string(), count: z.number() });
const exportRow = z.object({ kind: z.string(), data: z.record(z.string(), z.unknown()) });

/**
 * Where a user appears in PostgreSQL, table by table. `audit_log` is
 * pseudonymised rather than deleted, so it is matched on the user's id as
 * actor or as a subject key of `details`; api_keys/personas keep the row
 * (the organization owns it) and only lose `created_by`.
 */
function userRowCounts(userId: string) {
  const subjectKeys = sql.array([...AUDIT_SUBJECT_KEYS], 'text');
  return sql.type(countsRow)`
    SELECT kind, count FROM (
      SELECT 'users' AS kind, (SELECT count(*) FROM users WHERE id = ${userId})::int AS count
      UNION ALL SELECT 'memberships', (SELECT count(*) FROM memberships WHERE user_id = ${userId})::int
      UNION ALL SELECT 'sessions', (SELECT count(*) FROM sessions WHERE user_id = ${userId})::int
      UNION ALL SELECT 'refresh_tokens', (SELECT count(*) FROM refresh_tokens WHERE user_id = ${userId})::int
      UNION ALL SELECT 'identities', (SELECT count(*) FROM identities WHERE user_id = ${userId})::int
      UNION ALL SELECT 'integration_tokens', (SELECT count(*) FROM integration_tokens WHERE user_id = ${userId})::int
      UNION ALL SELECT 'verification_tokens', (SELECT count(*) FROM verification_tokens WHERE user_id = ${userId})::int
      UNION ALL SELECT 'mfa_challenges', (SELECT count(*) FROM mfa_challenges WHERE user_id = ${userId})::int
      UNION ALL SELECT 'user_mfa', (SELECT count(*) FROM user_mfa WHERE user_id = ${userId})::int
      UNION ALL SELECT 'mfa_recovery_codes', (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ${userId})::int
      UNION ALL SELECT 'password_history', (SELECT count(*) FROM password_history WHERE user_id = ${userId})::int
      UNION ALL SELECT 'user_persona_preferences', (SELECT count(*) FROM user_persona_preferences WHERE user_id = ${userId})::int
      UNION ALL SELECT 'consent_events', (SELECT count(*) FROM consent_events WHERE user_id = ${userId})::int
      UNION ALL SELECT 'api_keys.created_by', (SELECT count(*) FROM api_keys WHERE created_by = ${userId})::int
      UNION ALL SELECT 'personas.created_by', (SELECT count(*) FROM personas WHERE created_by = ${userId})::int
      UNION ALL SELECT 'audit_log', (SELECT count(*) FROM audit_log a WHERE a.actor_user_id = ${userId}
        OR EXISTS (SELECT 1 FROM jsonb_each(a.details) e WHERE e.key = ANY(${subjectKeys}) AND e.value = to_jsonb(${userId}::text)))::int
    ) c WHERE count > 0`;
}

/** Tenant tables that cascade from `organizations`; the audit log is kept (no FK) until retention drops its partitions. */
function organizationRowCounts(organizationId: string) {
  return sql.type(countsRow)`
    SELECT kind, count FROM (
      SELECT 'organizations' AS kind, (SELECT count(*) FROM organizations WHERE id = ${organizationId})::int AS count
      UNION ALL SELECT 'memberships', (SELECT count(*) FROM memberships WHERE organization_id = ${organizationId})::int
      UNION ALL SELECT 'sessions', (SELECT count(*) FROM sessions WHERE organization_id = ${organizationId})::int
      UNION ALL SELECT 'refresh_tokens', (SELECT count(*) FROM refresh_tokens WHERE organization_id = ${organizationId})::int
      UNION ALL SELECT 'api_keys', (SELECT count(*) FROM api_keys WHERE organization_id = ${organizationId})::int
      UNION ALL SELECT 'integration_tokens', (SELECT count(*) FROM integration_tokens WHERE organization_id = ${organizationId})::int
      UNION ALL SELECT 'organization_security_settings', (SELECT count(*) FROM organization_security_settings WHERE organization_id = ${organizationId})::int
      UNION ALL SELECT 'personas', (SELECT count(*) FROM personas WHERE organization_id = ${organizationId})::int
      UNION ALL SELECT 'user_persona_preferences', (SELECT count(*) FROM user_persona_preferences WHERE organization_id = ${organizationId})::int
      UNION ALL SELECT 'voice_cache_entries', (SELECT count(*) FROM voice_cache_entries WHERE organization_id = ${organizationId})::int
    ) c WHERE count > 0`;
}

function toCounts(rows: readonly z.infer<typeof countsRow>[]): RowCounts {
  return Object.fromEntries(rows.map((r) => [r.kind, r.count]));
}

/**
 * Everything PostgreSQL holds about one data subject (a user or an
 * organization), for GDPR export, erasure and organization deletion: counts
 * (verification), secret-free exports and the deletes themselves.
 *
 * Owner pool only (a subject spans organizations, so no tenant context can
 * describe it); every method takes an {@link AdminScope}. Deletes are
 * idempotent: a second run finds nothing and changes nothing.
 */
@injectable()
@accessControlled
export class SubjectDataRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Organizations the user is the ONLY owner of (soft-deleted ones included:
   * their memberships block the user row just the same).
   * @throws ValidationError naming `userId`; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async soleOwnerships(scope: AdminScope, userId: string): Promise<readonly SoleOwnership[]> {
    assertAdminScope(scope);
    const id = parseInput(uuid, userId, 'userId');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).any(sql.type(
        z
          .object({ organization_id: z.uuid(), slug: z.string(), other_members: z.number() })
          .transform((r): SoleOwnership => ({ organizationId: r.organization_id, slug: r.slug, otherMembers: r.other_members })),
      )`
        SELECT m.organization_id, o.slug::text AS slug,
               (SELECT count(*) FROM memberships x WHERE x.organization_id = m.organization_id AND x.user_id <> ${id})::int AS other_members
        FROM memberships m JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = ${id} AND m.role = 'owner'
          AND NOT EXISTS (SELECT 1 FROM memberships x WHERE x.organization_id = m.organization_id AND x.role = 'owner' AND x.user_id <> ${id})
        ORDER BY o.slug`),
    );
  }

  /** Rows that still name the user, per table (empty = nothing left). @throws ValidationError; TenantAccessError */
  @declareAccess({ adminScope: true })
  async countUserRows(scope: AdminScope, userId: string): Promise<RowCounts> {
    assertAdminScope(scope);
    const id = parseInput(uuid, userId, 'userId');
    return toCounts(await withPostgresErrors(() => scopedPool(this.postgres.appPool, { adminActor: scope.actor }).any(userRowCounts(id))));
  }

  /**
   * Deletes the user and everything that only makes sense with them, in one
   * transaction: sessions (with refresh tokens), tokens, identities, MFA,
   * password history, integration tokens, persona preferences, consent
   * history, memberships, then the user row. Organization-owned rows the user
   * created (api_keys, personas) are kept and lose `created_by` (the FK's
   * `SET NULL`). The audit log is NOT touched here: pseudonymise it first
   * (AuditRepository.pseudonymiseUser), because it has no FK.
   * @returns rows deleted per table (all zero on a re-run)
   * @throws ConflictError `memberships_last_owner` when the user is still the only owner of an organization
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async deleteUser(scope: AdminScope, userId: string): Promise<RowCounts> {
    assertAdminScope(scope);
    const id = parseInput(uuid, userId, 'userId');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).transaction(async (tx) => {
        const counts: Record<string, number> = {};
        const del = async (table: string, condition: ReturnType<typeof sql.fragment>) => {
          counts[table] = await tx.oneFirst(sql.type(z.object({ count: z.number() }))`
            WITH d AS (DELETE FROM ${sql.identifier([table])} WHERE ${condition} RETURNING 1) SELECT count(*)::int AS count FROM d`);
        };
        // Explicit deletes rather than relying on the cascade, so the result says what went and a future
        // table without ON DELETE CASCADE fails loudly here instead of blocking the user row silently.
        await del('refresh_tokens', sql.fragment`user_id = ${id}`);
        await del('sessions', sql.fragment`user_id = ${id}`);
        await del('verification_tokens', sql.fragment`user_id = ${id}`);
        await del('mfa_challenges', sql.fragment`user_id = ${id}`);
        await del('identities', sql.fragment`user_id = ${id}`);
        await del('mfa_recovery_codes', sql.fragment`user_id = ${id}`);
        await del('user_mfa', sql.fragment`user_id = ${id}`);
        await del('password_history', sql.fragment`user_id = ${id}`);
        await del('integration_tokens', sql.fragment`user_id = ${id}`);
        await del('user_persona_preferences', sql.fragment`user_id = ${id}`);
        await del('consent_events', sql.fragment`user_id = ${id}`);
        // The last-owner trigger refuses to drop an organization's only owner (ConflictError memberships_last_owner).
        await del('memberships', sql.fragment`user_id = ${id}`);
        await tx.query(sql.type(noRows)`UPDATE api_keys SET created_by = NULL WHERE created_by = ${id}`);
        await tx.query(sql.type(noRows)`UPDATE personas SET created_by = NULL WHERE created_by = ${id}`);
        await del('users', sql.fragment`id = ${id}`);
        return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
      }),
    );
  }

  /**
   * Marks the organization deleted (`deleted_at`), so it stops being served while its data is erased.
   * @returns false when there is no such organization
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async markOrganizationDeleted(scope: AdminScope, organizationId: string): Promise<boolean> {
    assertAdminScope(scope);
    const id = parseInput(uuid, organizationId, 'organizationId');
    const row = await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).maybeOne(sql.type(z.object({ id: z.uuid() }))`
        UPDATE organizations SET deleted_at = coalesce(deleted_at, now()) WHERE id = ${id} RETURNING id`),
    );
    return row !== null;
  }

  /**
   * Revokes every session of the organization (with refresh tokens) in one transaction.
   * @returns the sessions revoked by this call, for the Redis session cache
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async revokeOrganizationSessions(
    scope: AdminScope,
    organizationId: string,
    reason: string,
  ): Promise<readonly { id: string; userId: string; accessTokenJti: string; expiresAt: Date }[]> {
    assertAdminScope(scope);
    const d = parseInput(z.object({ organizationId: uuid, reason: z.string().min(1).max(200) }), { organizationId, reason });
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).transaction(async (tx) => {
        const revoked = await tx.any(sql.type(
          z.object({ id: z.uuid(), user_id: z.uuid(), access_token_jti: z.string(), expires_at: z.date() }).transform((r) => ({
            id: r.id,
            userId: r.user_id,
            accessTokenJti: r.access_token_jti,
            expiresAt: r.expires_at,
          })),
        )`
          UPDATE sessions SET revoked_at = now(), revoked_reason = ${d.reason}
          WHERE organization_id = ${d.organizationId} AND revoked_at IS NULL
          RETURNING id, user_id, access_token_jti, expires_at`);
        await tx.query(sql.type(noRows)`
          UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = ${d.reason}, replacement_token_encrypted = NULL
          WHERE organization_id = ${d.organizationId} AND revoked_at IS NULL`);
        return revoked;
      }),
    );
  }

  /** Rows of the organization's tenant tables, per table (empty = deleted). @throws ValidationError; TenantAccessError */
  @declareAccess({ adminScope: true })
  async countOrganizationRows(scope: AdminScope, organizationId: string): Promise<RowCounts> {
    assertAdminScope(scope);
    const id = parseInput(uuid, organizationId, 'organizationId');
    return toCounts(await withPostgresErrors(() => scopedPool(this.postgres.appPool, { adminActor: scope.actor }).any(organizationRowCounts(id))));
  }

  /**
   * Deletes the organization row; every tenant table cascades (memberships
   * included — the last-owner trigger skips a vanishing organization).
   * @returns rows deleted per table (empty on a re-run)
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async deleteOrganization(scope: AdminScope, organizationId: string): Promise<RowCounts> {
    assertAdminScope(scope);
    const id = parseInput(uuid, organizationId, 'organizationId');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).transaction(async (tx: DatabaseTransactionConnection) => {
        const before = toCounts(await tx.any(organizationRowCounts(id)));
        await tx.query(sql.type(z.object({ id: z.uuid() }))`DELETE FROM organizations WHERE id = ${id} RETURNING id`);
        return before;
      }),
    );
  }

  /**
   * Everything PostgreSQL holds about the user, without secrets: profile
   * (no password hash), memberships, identities (no provider tokens), sessions
   * (no token ids), integrations (no tokens), API keys they created (prefix
   * only), MFA status (no secret, no codes), persona preferences, consent
   * history and audit events naming them (as actor or subject).
   * @throws ValidationError; TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async exportUser(scope: AdminScope, userId: string): Promise<readonly ExportedRow[]> {
    assertAdminScope(scope);
    const id = parseInput(uuid, userId, 'userId');
    const subjectKeys = sql.array([...AUDIT_SUBJECT_KEYS], 'text');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { adminActor: scope.actor }).any(sql.type(exportRow)`
        SELECT 'profile' AS kind, jsonb_build_object(
            'id', u.id, 'email', u.email, 'displayName', u.display_name, 'username', u.username, 'firstName', u.first_name,
            'lastName', u.last_name, 'avatarUrl', u.avatar_url, 'timezone', u.timezone, 'language', u.language,
            'status', u.status, 'emailVerifiedAt', u.email_verified_at,
            'lastLoginAt', u.last_login_at, 'lastLoginIp', host(u.last_login_ip), 'termsVersion', u.terms_version,
            'termsAcceptedAt', u.terms_accepted_at, 'privacyVersion', u.privacy_version, 'privacyAcceptedAt', u.privacy_accepted_at,
            'marketingConsentVersion', u.marketing_consent_version, 'marketingConsentAt', u.marketing_consent_at,
            'ageConfirmedAt', u.age_confirmed_at, 'createdAt', u.created_at, 'deletedAt', u.deleted_at) AS data, 0 AS sort, u.created_at AS at
        FROM users u WHERE u.id = ${id}
        UNION ALL
        SELECT 'membership', jsonb_build_object('organizationId', m.organization_id, 'organizationSlug', o.slug, 'organizationName', o.name,
            'role', m.role, 'profile', m.profile, 'createdAt', m.created_at), 1, m.created_at
        FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = ${id}
        UNION ALL
        SELECT 'identity', jsonb_build_object('id', i.id, 'provider', i.provider, 'providerUserId', i.provider_user_id, 'email', i.email,
            'providerUsername', i.provider_username, 'providerDiscriminator', i.provider_discriminator,
            'createdAt', i.created_at), 2, i.created_at
        FROM identities i WHERE i.user_id = ${id}
        UNION ALL
        SELECT 'session', jsonb_build_object('id', s.id, 'organizationId', s.organization_id, 'device', s.device, 'ip', host(s.ip),
            'userAgent', s.user_agent, 'createdAt', s.created_at, 'lastSeenAt', s.last_seen_at, 'expiresAt', s.expires_at,
            'revokedAt', s.revoked_at, 'revokedReason', s.revoked_reason), 3, s.created_at
        FROM sessions s WHERE s.user_id = ${id}
        UNION ALL
        SELECT 'integration', jsonb_build_object('id', t.id, 'organizationId', t.organization_id, 'integration', t.integration,
            'scopes', to_jsonb(t.scopes), 'expiresAt', t.expires_at, 'createdAt', t.created_at), 4, t.created_at
        FROM integration_tokens t WHERE t.user_id = ${id}
        UNION ALL
        SELECT 'api_key', jsonb_build_object('id', k.id, 'organizationId', k.organization_id, 'name', k.name, 'prefix', k.prefix,
            'scopes', to_jsonb(k.scopes), 'createdAt', k.created_at, 'revokedAt', k.revoked_at), 5, k.created_at
        FROM api_keys k WHERE k.created_by = ${id}
        UNION ALL
        SELECT 'mfa', jsonb_build_object('enabledAt', f.enabled_at, 'createdAt', f.created_at,
            'recoveryCodesLeft', (SELECT count(*) FROM mfa_recovery_codes c WHERE c.user_id = f.user_id AND c.used_at IS NULL)), 6, f.created_at
        FROM user_mfa f WHERE f.user_id = ${id}
        UNION ALL
        SELECT 'persona_preference', jsonb_build_object('organizationId', p.organization_id, 'personaId', p.persona_id,
            'personaName', pe.name, 'settings', p.settings, 'isDefault', p.is_default, 'createdAt', p.created_at), 7, p.created_at
        FROM user_persona_preferences p JOIN personas pe ON pe.id = p.persona_id WHERE p.user_id = ${id}
        UNION ALL
        SELECT 'consent_event', jsonb_build_object('id', c.id, 'kind', c.kind, 'version', c.version, 'granted', c.granted,
            'source', c.source, 'details', c.details, 'recordedAt', c.recorded_at), 8, c.recorded_at
        FROM consent_events c WHERE c.user_id = ${id}
        UNION ALL
        SELECT 'audit_event', jsonb_build_object('id', a.id, 'eventType', a.event_type, 'organizationId', a.organization_id,
            'actorUserId', a.actor_user_id, 'ip', host(a.ip), 'userAgent', a.user_agent, 'country', a.country, 'region', a.region, 'riskScore', a.risk_score,
            'details', a.details, 'createdAt', a.created_at), 9, a.created_at
        FROM audit_log a WHERE a.actor_user_id = ${id}
           OR EXISTS (SELECT 1 FROM jsonb_each(a.details) e WHERE e.key = ANY(${subjectKeys}) AND e.value = to_jsonb(${id}::text))
        ORDER BY sort, at`),
    );
  }
}

/** @throws ConflictError listing the organizations the user alone owns */
export function refuseSoleOwnership(userId: string, owned: readonly SoleOwnership[]): void {
  if (owned.length === 0) return;
  throw new ConflictError(`User ${userId} is the only owner of ${owned.map((o) => o.slug).join(', ')}: transfer ownership or delete the organization first`, {
    store: 'postgres',
    constraint: 'memberships_last_owner',
  });
}
