import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError, TenantAccessError, TokenError } from '../../errors.js';
import { MEMBERSHIP_ROLES, type MembershipRole } from '../../tenancy/membership-role.js';
import { PERMISSION_MATRIX } from '../../tenancy/permission-matrix.js';
import { isAllowed, PERMISSIONS, permissionsOfScopes, ROLE_PERMISSIONS } from '../../tenancy/permission-policy.js';
import { generateApiKey, hashToken, parseApiKey, tokensEqual } from '../../security/secret-token.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { AuditRepository, tenantAuditEvent } from './audit-repository.js';
import { PostgresConnection } from '../postgres-connection.js';
import { withTenant } from '../with-tenant.js';
import { type KeysetPage, type KeysetPageInput, microsToTimestamp, parseKeysetPage, sortMicros, toKeysetPage } from './keyset-page.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export interface ApiKeyRecord {
  readonly id: string;
  readonly organizationId: string;
  readonly createdBy: string | null;
  readonly name: string;
  /** Public lookup part of the key (`pd_<prefix>_…`); safe to show and log. */
  readonly prefix: string;
  readonly scopes: readonly string[];
  /** Requests per minute the rate limiter allows this key; null = the platform default. */
  readonly rateLimitPerMinute: number | null;
  /** Extra requests allowed in a burst above the steady rate; null = none / default. */
  readonly rateLimitBurst: number | null;
  readonly lastUsedAt: Date | null;
  readonly expiresAt: Date | null;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

const shape = {
  id: z.uuid(),
  organization_id: z.uuid(),
  created_by: z.uuid().nullable(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.string()),
  rate_limit_per_minute: z.number().nullable(),
  rate_limit_burst: z.number().nullable(),
  last_used_at: z.date().nullable(),
  expires_at: z.date().nullable(),
  created_at: z.date(),
  revoked_at: z.date().nullable(),
};
type RawRow = z.infer<z.ZodObject<typeof shape>>;

function toRecord(r: RawRow): ApiKeyRecord {
  return {
    id: r.id,
    organizationId: r.organization_id,
    createdBy: r.created_by,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    rateLimitPerMinute: r.rate_limit_per_minute,
    rateLimitBurst: r.rate_limit_burst,
    lastUsedAt: r.last_used_at,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

const recordRow = z.object(shape).transform(toRecord);
const listRow = z.object({ ...shape, sort_us: z.number() }).transform((r) => ({ item: toRecord(r), position: { us: r.sort_us, id: r.id } }));
const secretRow = z.object({
  ...shape,
  secret_hash: z.instanceof(Buffer),
  expired: z.boolean(),
  creator_role: z.enum(MEMBERSHIP_ROLES).nullable(),
  creator_status: z.string().nullable(),
});

/** A verified key and the role its creator holds in the key's organization NOW: the key acts with that role, narrowed by its scopes. */
export interface VerifiedApiKey extends ApiKeyRecord {
  readonly createdBy: string;
  readonly creatorRole: MembershipRole;
}

/** Creator states that disable a key. `locked` (a temporary sign-in lockout) does not, or failed logins by anyone could switch a key off. */
const DISABLED_CREATOR_STATUSES = new Set(['suspended', 'deleted']);

const COLUMNS = sql.fragment`id, organization_id, created_by, name, prefix, scopes, rate_limit_per_minute, rate_limit_burst,
  last_used_at, expires_at, created_at, revoked_at`;
const KEY_COLUMNS = sql.fragment`k.id, k.organization_id, k.created_by, k.name, k.prefix, k.scopes, k.rate_limit_per_minute, k.rate_limit_burst,
  k.last_used_at, k.expires_at, k.created_at, k.revoked_at`;

/** Same grammar as TenantContext scopes, e.g. `knowledge:read`, `admin:*`. */
const scopeInput = z
  .string()
  .max(100)
  .regex(/^[a-z][a-z0-9_-]*(?::[a-z0-9_*-]+)*$/, 'must look like "resource:action"');
const limitsShape = {
  rateLimitPerMinute: z.number().int().min(1).max(1_000_000).nullable().optional(),
  rateLimitBurst: z.number().int().min(1).max(1_000_000).nullable().optional(),
};
const createInput = z
  .object({
    name: z.string().trim().min(1).max(200),
    scopes: z.array(scopeInput).max(100).default([]),
    ...limitsShape,
    expiresAt: z
      .date()
      .refine((d) => d.getTime() > Date.now(), 'must be in the future')
      .optional(),
  })
  .strict();
export type CreateApiKeyInput = z.input<typeof createInput>;

const updateInput = z.object({ scopes: z.array(scopeInput).max(100).optional(), ...limitsShape }).strict();
export type UpdateApiKeyInput = z.input<typeof updateInput>;

/**
 * A caller can hand out no more than it holds itself: every permission the
 * requested scopes reach must be one the caller has and one a key may hold;
 * an API key acting must name scopes (an unscoped key would act with its
 * creator's whole role) unless it is itself unscoped.
 * @throws TenantAccessError naming the first permission out of reach
 */
function assertScopesWithin(ctx: TenantContext, scopes: readonly string[]): void {
  const reached =
    scopes.length === 0 ? PERMISSIONS.filter((p) => PERMISSION_MATRIX[p].apiKey && ROLE_PERMISSIONS[ctx.role].has(p)) : permissionsOfScopes(scopes);
  const beyond = reached.find((p) => !PERMISSION_MATRIX[p].apiKey || !isAllowed(ctx, p));
  if (beyond !== undefined) {
    throw new TenantAccessError(`The key's scopes would reach ${beyond}, which the caller cannot grant`, { permission: beyond });
  }
}

/** Would `requested` (undefined = unchanged; on create, the default) allow more than `own` (null = the platform default)? */
function widerRate(requested: number | null | undefined, own: number | null, creating: boolean): boolean {
  const r = requested === undefined && creating ? null : requested;
  if (r === undefined) return false;
  if (own === null) return r !== null; // the repository does not know the default: only the default is surely not wider
  return r === null || r > own;
}

/**
 * An API key managing keys cannot hand out a higher rate limit or burst than its own.
 * @throws TenantAccessError `api_keys:rate_limit`
 */
async function assertLimitsWithin(
  tx: DatabaseTransactionConnection,
  ctx: TenantContext,
  data: { rateLimitPerMinute?: number | null; rateLimitBurst?: number | null },
  creating: boolean,
): Promise<void> {
  if (ctx.actor.kind !== 'apiKey') return;
  const own = await tx.maybeOne(sql.type(z.object({ rate_limit_per_minute: z.number().nullable(), rate_limit_burst: z.number().nullable() }))`
    SELECT rate_limit_per_minute, rate_limit_burst FROM api_keys WHERE id = ${ctx.actor.keyId}`);
  const widerBurst = data.rateLimitBurst !== undefined && (data.rateLimitBurst ?? 0) > (own?.rate_limit_burst ?? 0);
  if (!own || widerRate(data.rateLimitPerMinute, own.rate_limit_per_minute, creating) || widerBurst) {
    throw new TenantAccessError('An API key cannot set a rate limit above its own', { permission: 'api_keys:rate_limit' });
  }
}

/** The hash compared when a prefix is unknown, so a miss costs what a hit costs. */
const DUMMY_HASH = hashToken('platform-data:unknown-api-key');

/**
 * API keys `pd_<prefix>_<secret>`: the public prefix is stored and indexed, the
 * secret only as SHA-256.
 *
 * Pools: management (`create`, `get`, `list`, `update`, `revoke`) is tenant
 * work through `withTenant`; `findByPrefix`, `verify` and `touchLastUsed`
 * authenticate a request that carries only the key, so they run on the owner
 * pool (docs/schema.md, "Pre-tenant auth paths").
 */
@injectable()
@accessControlled
export class ApiKeyRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Creates a key in `ctx.organizationId`, owned by `ctx.userId`.
   * @returns the full key — shown once, never stored — and its row
   * @throws ValidationError naming the invalid field (`name`, `scopes.0`, `rateLimitPerMinute`, `expiresAt` …)
   */
  @declareAccess({ requires: 'api_keys:manage' })
  async create(ctx: TenantContext, input: CreateApiKeyInput): Promise<{ key: string; apiKey: ApiKeyRecord }> {
    const data = parseInput(createInput, input);
    assertScopesWithin(ctx, data.scopes);
    const generated = generateApiKey();
    const apiKey = await withTenant(this.postgres.appPool, ctx, async (tx) => {
      await assertLimitsWithin(tx, ctx, data, true);
      const created = await tx.one(sql.type(recordRow)`
        INSERT INTO api_keys (organization_id, created_by, name, prefix, secret_hash, scopes, rate_limit_per_minute, rate_limit_burst, expires_at)
        VALUES (${ctx.organizationId}, ${ctx.userId}, ${data.name}, ${generated.prefix}, ${sql.binary(generated.secretHash)},
                ${sql.array(data.scopes, 'text')}, ${data.rateLimitPerMinute ?? null}, ${data.rateLimitBurst ?? null},
                ${data.expiresAt ? sql.timestamp(data.expiresAt) : null})
        RETURNING ${COLUMNS}`);
      await this.audit.appendWithin(tx, [
        tenantAuditEvent(ctx, 'api_key.created', { keyId: created.id, prefix: created.prefix, name: created.name, scopes: [...created.scopes] }, 20),
      ]);
      return created;
    });
    return { key: generated.key, apiKey };
  }

  /**
   * The key with this public prefix (any state), or `undefined`.
   * @throws ValidationError naming `prefix`
   */
  @declareAccess({ preTenant: 'authenticates a presented API key' })
  async findByPrefix(prefix: string): Promise<ApiKeyRecord | undefined> {
    const value = parseInput(z.string().regex(/^[A-Za-z0-9_]{8,32}$/), prefix, 'prefix');
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM platform_auth.api_key_by_prefix(${value})`),
    );
    return row ?? undefined;
  }

  /**
   * Authenticates a presented key: prefix lookup, constant-time comparison of
   * the secret's hash, then revocation and expiry, then the creator: a key whose
   * creator was erased, removed from the organization or suspended is
   * refused. One round trip (the creator's membership and status are joined).
   * Unknown prefix and wrong secret give the same error (and a comparison of
   * the same cost).
   * @returns the key and its creator's current role, which the key acts with
   * @throws TokenError `invalid` (malformed, unknown or wrong secret), `revoked` (also: creator gone, no longer a member, suspended), `expired`; the key is never echoed
   */
  @declareAccess({ preTenant: 'authenticates a presented API key' })
  async verify(key: string): Promise<VerifiedApiKey> {
    const parsed = parseApiKey(key);
    const row = await withPostgresErrors(() =>
      // Both lookups are pre-tenant (the key's organization is not known yet): narrow
      // SECURITY DEFINER functions (sql/0070); the creator's role and status only
      // for the holder of the whole key (its secret's hash).
      this.postgres.appPool.maybeOne(sql.type(secretRow)`
        SELECT ${KEY_COLUMNS}, k.secret_hash, coalesce(k.expires_at <= now(), false) AS expired,
               c.creator_role, c.creator_status
        FROM platform_auth.api_key_by_prefix(${parsed.prefix}) k
        LEFT JOIN platform_auth.api_key_creator(${parsed.prefix}, ${sql.binary(parsed.secretHash)}) c ON true`),
    );
    const matches = tokensEqual(parsed.secretHash, row?.secret_hash ?? DUMMY_HASH);
    if (!row || !matches) throw new TokenError('invalid', 'Invalid API key');
    if (row.revoked_at !== null) throw new TokenError('revoked', 'API key is revoked');
    if (row.expired) throw new TokenError('expired', 'API key has expired');
    const { secret_hash: _hash, expired: _expired, creator_role: creatorRole, creator_status: creatorStatus, ...rest } = row;
    // Nobody answers for the key any more: its creator was erased, left the organization or is suspended.
    if (rest.created_by === null || creatorRole === null || creatorStatus === null || DISABLED_CREATOR_STATUSES.has(creatorStatus)) {
      throw new TokenError('revoked', "API key's creator no longer holds rights in the organization");
    }
    return { ...toRecord(rest), createdBy: rest.created_by, creatorRole };
  }

  /**
   * Records use of a key, at most once per `minIntervalSeconds` (default 60),
   * so authenticating every request does not write every time.
   * @returns true when the row was written
   * @throws ValidationError naming `id` / `minIntervalSeconds`
   */
  @declareAccess({ preTenant: 'authenticates a presented API key' })
  async touchLastUsed(id: string, minIntervalSeconds = 60): Promise<boolean> {
    const input = parseInput(z.object({ id: z.uuid(), minIntervalSeconds: z.number().int().min(0).max(86_400) }), { id, minIntervalSeconds });
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        SELECT id FROM platform_auth.touch_api_key(${input.id}, ${input.minIntervalSeconds}) AS t(id)`),
    );
    return row !== null;
  }

  /**
   * @throws ValidationError naming `id`
   * @throws NotFoundError when no such key exists in the organization
   */
  @declareAccess({ requires: 'api_keys:manage' })
  async get(ctx: TenantContext, id: string): Promise<ApiKeyRecord> {
    const keyId = parseInput(uuidInput, id, 'id');
    const row = await withTenant(this.postgres.appPool, ctx, (tx) => tx.maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM api_keys WHERE id = ${keyId}`));
    if (!row) throw new NotFoundError('api key', keyId);
    return row;
  }

  /**
   * The organization's keys, oldest first.
   * @throws ValidationError naming `page.*`
   */
  @declareAccess({ requires: 'api_keys:manage' })
  async list(ctx: TenantContext, page?: KeysetPageInput): Promise<KeysetPage<ApiKeyRecord>> {
    const { limit, position } = parseKeysetPage(page);
    const rows = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(listRow)`
        SELECT ${COLUMNS}, ${sortMicros(sql.fragment`created_at`)} AS sort_us
        FROM api_keys
        WHERE organization_id = ${ctx.organizationId}
          ${position ? sql.fragment`AND (created_at, id) > (${microsToTimestamp(position.us)}, ${position.id})` : sql.fragment``}
        ORDER BY created_at, id
        LIMIT ${limit + 1}`),
    );
    return toKeysetPage(rows, limit);
  }

  /**
   * Changes scopes and rate-limit settings; omitted fields keep their value, `null` clears a limit.
   * @throws ValidationError naming the invalid field
   * @throws NotFoundError when no such key exists in the organization
   */
  @declareAccess({ requires: 'api_keys:manage' })
  async update(ctx: TenantContext, id: string, patch: UpdateApiKeyInput): Promise<ApiKeyRecord> {
    const keyId = parseInput(uuidInput, id, 'id');
    const data = parseInput(updateInput, patch);
    if (data.scopes !== undefined) assertScopesWithin(ctx, data.scopes);
    const sets = [
      data.scopes === undefined ? undefined : sql.fragment`scopes = ${sql.array(data.scopes, 'text')}`,
      data.rateLimitPerMinute === undefined ? undefined : sql.fragment`rate_limit_per_minute = ${data.rateLimitPerMinute}`,
      data.rateLimitBurst === undefined ? undefined : sql.fragment`rate_limit_burst = ${data.rateLimitBurst}`,
    ].filter((f) => f !== undefined);
    if (sets.length === 0) return this.get(ctx, keyId);
    const row = await withTenant(this.postgres.appPool, ctx, async (tx) => {
      await assertLimitsWithin(tx, ctx, data, false);
      const updated = await tx.maybeOne(sql.type(recordRow)`
        UPDATE api_keys SET ${sql.join(sets, sql.fragment`, `)} WHERE id = ${keyId} RETURNING ${COLUMNS}`);
      if (updated) {
        const changed = Object.keys(data).filter((k) => data[k as keyof typeof data] !== undefined);
        await this.audit.appendWithin(tx, [tenantAuditEvent(ctx, 'api_key.updated', { keyId, changed, scopes: [...updated.scopes] }, 20)]);
      }
      return updated;
    });
    if (!row) throw new NotFoundError('api key', keyId);
    return row;
  }

  /**
   * Revokes a key of the organization (idempotent: the first revocation time is kept).
   * @throws ValidationError naming `id`
   * @throws NotFoundError when no such key exists in the organization
   */
  @declareAccess({ requires: 'api_keys:manage' })
  async revoke(ctx: TenantContext, id: string): Promise<ApiKeyRecord> {
    const keyId = parseInput(uuidInput, id, 'id');
    const row = await withTenant(this.postgres.appPool, ctx, async (tx) => {
      const newly = await tx.maybeOne(sql.type(recordRow)`
        UPDATE api_keys SET revoked_at = now() WHERE id = ${keyId} AND revoked_at IS NULL RETURNING ${COLUMNS}`);
      // Only the revocation itself is an event; repeating it changes nothing.
      if (newly) await this.audit.appendWithin(tx, [tenantAuditEvent(ctx, 'api_key.revoked', { keyId, prefix: newly.prefix, name: newly.name }, 20)]);
      return newly ?? tx.maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM api_keys WHERE id = ${keyId}`);
    });
    if (!row) throw new NotFoundError('api key', keyId);
    return row;
  }
}
