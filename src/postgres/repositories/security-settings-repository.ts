import { isIP } from 'node:net';
import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { AuditRepository, tenantAuditEvent } from './audit-repository.js';
import { PostgresConnection } from '../postgres-connection.js';
import { preparedStatement } from '../prepared-statement.js';
import { scopedPool } from '../with-scope.js';
import { withTenant } from '../with-tenant.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { ipAddressSchema } from '../../ip-address.js';

/** An organization's security policy. Organizations without a row get {@link DEFAULT_SECURITY_SETTINGS}. */
export interface SecuritySettings {
  readonly passwordMinLength: number;
  readonly passwordRequireLowercase: boolean;
  readonly passwordRequireUppercase: boolean;
  readonly passwordRequireDigit: boolean;
  readonly passwordRequireSymbol: boolean;
  /** How many previous passwords may not be reused (0 = no history check). */
  readonly passwordHistoryCount: number;
  readonly passwordMaxAgeDays: number | null;
  /** Absolute session lifetime. */
  readonly sessionTimeoutMinutes: number;
  /** Idle time after which a session ends. */
  readonly inactivityTimeoutMinutes: number;
  readonly mfaRequired: boolean;
  /** CIDR blocks allowed to sign in; empty = everywhere. Stored as `cidr[]` (host bits cleared). */
  readonly ipAllowList: readonly string[];
  /** False: one live session per user in the organization (as `maxConcurrentSessions` 1). */
  readonly allowConcurrentSessions: boolean;
  /** Live sessions per user in the organization; a sign-in beyond it revokes the oldest (default 5). */
  readonly maxConcurrentSessions: number;
}

/** Mirrors the column defaults of `organization_security_settings` (0003). */
export const DEFAULT_SECURITY_SETTINGS: SecuritySettings = Object.freeze({
  passwordMinLength: 12,
  passwordRequireLowercase: true,
  passwordRequireUppercase: true,
  passwordRequireDigit: true,
  passwordRequireSymbol: false,
  passwordHistoryCount: 5,
  passwordMaxAgeDays: null,
  sessionTimeoutMinutes: 43_200,
  inactivityTimeoutMinutes: 1_440,
  mfaRequired: false,
  ipAllowList: Object.freeze([]) as readonly string[],
  allowConcurrentSessions: true,
  maxConcurrentSessions: 5,
});

/** `address` or `address/prefix`, IPv4 or IPv6. */
const cidrInput = z
  .string()
  .max(64)
  .refine((value) => {
    const [address = '', prefix, extra] = value.split('/');
    const family = isIP(address);
    if (family === 0 || extra !== undefined) return false;
    if (prefix === undefined) return true;
    const bits = Number(prefix);
    return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
  }, 'must be an IP address or CIDR block, e.g. 203.0.113.0/24');

const settingsShape = {
  passwordMinLength: z.number().int().min(8).max(128),
  passwordRequireLowercase: z.boolean(),
  passwordRequireUppercase: z.boolean(),
  passwordRequireDigit: z.boolean(),
  passwordRequireSymbol: z.boolean(),
  passwordHistoryCount: z.number().int().min(0).max(24),
  passwordMaxAgeDays: z.number().int().min(1).max(3650).nullable(),
  sessionTimeoutMinutes: z.number().int().min(5).max(525_600),
  inactivityTimeoutMinutes: z.number().int().min(1).max(525_600),
  mfaRequired: z.boolean(),
  ipAllowList: z.array(cidrInput).max(500),
  allowConcurrentSessions: z.boolean(),
  maxConcurrentSessions: z.number().int().min(1).max(1000),
};
export const securitySettingsPatchSchema = z
  .object(settingsShape)
  .partial()
  .strict()
  .refine((p) => p.inactivityTimeoutMinutes === undefined || p.sessionTimeoutMinutes === undefined || p.inactivityTimeoutMinutes <= p.sessionTimeoutMinutes, {
    message: 'must not exceed sessionTimeoutMinutes',
    path: ['inactivityTimeoutMinutes'],
  });
export type SecuritySettingsPatch = z.input<typeof securitySettingsPatchSchema>;

/** camelCase field → column; also the whitelist of what an update may set. */
const COLUMN_OF: Readonly<Record<keyof SecuritySettings, string>> = {
  passwordMinLength: 'password_min_length',
  passwordRequireLowercase: 'password_require_lowercase',
  passwordRequireUppercase: 'password_require_uppercase',
  passwordRequireDigit: 'password_require_digit',
  passwordRequireSymbol: 'password_require_symbol',
  passwordHistoryCount: 'password_history_count',
  passwordMaxAgeDays: 'password_max_age_days',
  sessionTimeoutMinutes: 'session_timeout_minutes',
  inactivityTimeoutMinutes: 'inactivity_timeout_minutes',
  mfaRequired: 'mfa_required',
  ipAllowList: 'ip_allow_list',
  allowConcurrentSessions: 'allow_concurrent_sessions',
  maxConcurrentSessions: 'max_concurrent_sessions',
};

const settingsRow = z
  .object({
    password_min_length: z.number(),
    password_require_lowercase: z.boolean(),
    password_require_uppercase: z.boolean(),
    password_require_digit: z.boolean(),
    password_require_symbol: z.boolean(),
    password_history_count: z.number(),
    password_max_age_days: z.number().nullable(),
    session_timeout_minutes: z.number(),
    inactivity_timeout_minutes: z.number(),
    mfa_required: z.boolean(),
    ip_allow_list: z.array(z.string()),
    allow_concurrent_sessions: z.boolean(),
    max_concurrent_sessions: z.number(),
  })
  .transform((r): SecuritySettings => ({
    passwordMinLength: r.password_min_length,
    passwordRequireLowercase: r.password_require_lowercase,
    passwordRequireUppercase: r.password_require_uppercase,
    passwordRequireDigit: r.password_require_digit,
    passwordRequireSymbol: r.password_require_symbol,
    passwordHistoryCount: r.password_history_count,
    passwordMaxAgeDays: r.password_max_age_days,
    sessionTimeoutMinutes: r.session_timeout_minutes,
    inactivityTimeoutMinutes: r.inactivity_timeout_minutes,
    mfaRequired: r.mfa_required,
    ipAllowList: r.ip_allow_list,
    allowConcurrentSessions: r.allow_concurrent_sessions,
    maxConcurrentSessions: r.max_concurrent_sessions,
  }));

const COLUMNS = sql.fragment`password_min_length, password_require_lowercase, password_require_uppercase, password_require_digit,
  password_require_symbol, password_history_count, password_max_age_days, session_timeout_minutes, inactivity_timeout_minutes,
  mfa_required, ip_allow_list::text[] AS ip_allow_list, allow_concurrent_sessions, max_concurrent_sessions`;

/** COLUMNS has no parameters, so its text is plain SQL. */
const SETTINGS_OF_ORGANIZATION = preparedStatement(
  'pd_security_settings_of_organization',
  `SELECT ${COLUMNS.sql} FROM organization_security_settings WHERE organization_id = $1::uuid`,
  settingsRow,
);

/**
 * Per-organization security settings: password policy, session and inactivity
 * timeouts, MFA requirement, IP allow-list (`cidr[]`).
 *
 * Pools: `get`/`update` are tenant work (`withTenant`). `getForOrganization`
 * and `isIpAllowed` are consulted during login, before the session's tenant
 * context exists, and run on the owner pool (read-only).
 */
@injectable()
@accessControlled
export class SecuritySettingsRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /** The current organization's settings (defaults when never changed). */
  @declareAccess({ requires: 'settings:read' })
  async get(ctx: TenantContext): Promise<SecuritySettings> {
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(settingsRow)`SELECT ${COLUMNS} FROM organization_security_settings WHERE organization_id = ${ctx.organizationId}`),
    );
    return row ?? DEFAULT_SECURITY_SETTINGS;
  }

  /**
   * The settings of any organization (login-time policy checks), defaults when never changed.
   * @throws ValidationError naming `organizationId`
   */
  @declareAccess({ preTenant: 'sign-in checks of an organization before a context exists' })
  async getForOrganization(organizationId: string): Promise<SecuritySettings> {
    const id = parseInput(uuidInput, organizationId, 'organizationId');
    // Every sign-in reads this: the organization's scope and the read in one round trip (PostgresConnection.scopedQuery).
    const [row] = await this.postgres.scopedQuery({ organizationId: id }, SETTINGS_OF_ORGANIZATION, [id]);
    return row ?? DEFAULT_SECURITY_SETTINGS;
  }

  /**
   * Changes the given settings of the current organization (upsert); others keep their value.
   * IP allow-list entries are stored as networks: host bits are cleared (`10.1.2.3/8` → `10.0.0.0/8`).
   * @throws ValidationError naming the invalid field (`passwordMinLength`, `ipAllowList.2` …)
   * @throws ConflictError naming the check constraint when the stored combination is invalid
   */
  @declareAccess({ requires: 'settings:manage' })
  async update(ctx: TenantContext, patch: SecuritySettingsPatch): Promise<SecuritySettings> {
    const data = parseInput(securitySettingsPatchSchema, patch);
    const entries = (Object.keys(COLUMN_OF) as Array<keyof SecuritySettings>).flatMap((field) => {
      const value = data[field];
      if (value === undefined) return [];
      const column = sql.identifier([COLUMN_OF[field]]);
      const expression = Array.isArray(value)
        ? sql.fragment`ARRAY(SELECT network(entry)::cidr FROM unnest(${sql.array(value, 'inet')}) AS entry)::cidr[]`
        : sql.fragment`${value}`;
      return [{ column, expression }];
    });
    if (entries.length === 0) return this.get(ctx);
    const columns = sql.join([sql.identifier(['organization_id']), ...entries.map((e) => e.column)], sql.fragment`, `);
    const values = sql.join([sql.fragment`${ctx.organizationId}`, ...entries.map((e) => e.expression)], sql.fragment`, `);
    const updates = sql.join(
      entries.map((e) => sql.fragment`${e.column} = EXCLUDED.${e.column}`),
      sql.fragment`, `,
    );
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const before = await tx.maybeOne(sql.type(settingsRow)`
        SELECT ${COLUMNS} FROM organization_security_settings WHERE organization_id = ${ctx.organizationId} FOR UPDATE`);
      const after = await tx.one(sql.type(settingsRow)`
        INSERT INTO organization_security_settings (${columns}) VALUES (${values})
        ON CONFLICT (organization_id) DO UPDATE SET ${updates}
        RETURNING ${COLUMNS}`);
      // Before and after of each changed setting (none of them is a secret); weakening ones weigh more.
      const changes = Object.fromEntries(
        (Object.keys(COLUMN_OF) as Array<keyof SecuritySettings>)
          .filter((field) => JSON.stringify(before?.[field] ?? null) !== JSON.stringify(after[field]))
          .map((field) => [field, { from: before?.[field] ?? null, to: after[field] }]),
      );
      if (Object.keys(changes).length > 0) {
        await this.audit.appendWithin(tx, [tenantAuditEvent(ctx, 'organization.security_settings_changed', { changes }, 30)]);
      }
      return after;
    });
  }

  /**
   * Whether `ip` may sign in to the organization: true when the allow-list is
   * empty (or never set), else `ip <<= ANY(ip_allow_list)` — decided in SQL.
   * @throws ValidationError naming `organizationId` / `ip`
   */
  @declareAccess({ preTenant: 'sign-in checks of an organization before a context exists' })
  async isIpAllowed(organizationId: string, ip: string): Promise<boolean> {
    const input = parseInput(
      z.object({
        organizationId: z.uuid(),
        ip: ipAddressSchema,
      }),
      { organizationId, ip },
    );
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { organizationId: input.organizationId }).oneFirst(sql.type(z.object({ allowed: z.boolean() }))`
        SELECT coalesce((
          SELECT cardinality(ip_allow_list) = 0 OR ${input.ip}::inet <<= ANY(ip_allow_list)
          FROM organization_security_settings WHERE organization_id = ${input.organizationId}
        ), true) AS allowed`),
    );
  }
}
