import { randomUUID } from 'node:crypto';
import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../../errors.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { AuditRepository, tenantAuditEvent } from './audit-repository.js';
import { PostgresConnection } from '../postgres-connection.js';
import { enterScope, scopedPool } from '../with-scope.js';
import { withTenant } from '../with-tenant.js';
import { type KeysetPage, type KeysetPageInput, microsToTimestamp, parseKeysetPage, sortMicros, toKeysetPage } from './keyset-page.js';
import { noRows } from './no-rows.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export const ORGANIZATION_TIERS = ['free', 'pro', 'enterprise'] as const;
export type OrganizationTier = (typeof ORGANIZATION_TIERS)[number];

/**
 * `organizations.settings`: strict, so a typo in a key is a ValidationError
 * naming it instead of a silently ignored setting.
 */
export const organizationSettingsSchema = z
  .object({
    locale: z
      .string()
      .regex(/^[a-z]{2}(?:-[A-Z]{2})?$/, 'must look like "en" or "en-US"')
      .optional(),
    timezone: z.string().min(1).max(64).optional(),
    maxMembers: z.number().int().min(1).max(1_000_000).optional(),
    defaultPersonaId: z.uuid().optional(),
    features: z.record(z.string().regex(/^[a-z][a-zA-Z0-9_]{0,63}$/), z.boolean()).optional(),
  })
  .strict();
export type OrganizationSettings = z.output<typeof organizationSettingsSchema>;

export interface OrganizationRecord {
  readonly id: string;
  readonly name: string;
  readonly slug: string;
  readonly tier: OrganizationTier;
  readonly credits: number;
  readonly settings: OrganizationSettings;
  /**
   * The earliest verified of the organization's domains (OrganizationDomains: claim, DNS TXT check), or null.
   * Derived, not stored: the domains are the source (docs/schema.md, "Organization domains").
   */
  readonly primaryDomain: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly deletedAt: Date | null;
}

const shape = {
  id: z.uuid(),
  name: z.string(),
  slug: z.string(),
  tier: z.enum(ORGANIZATION_TIERS),
  credits: z.number(),
  // Stored settings are parsed leniently (unknown keys dropped) so an old key never makes a row unreadable.
  settings: organizationSettingsSchema.strip(),
  primary_domain: z.string().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
  deleted_at: z.date().nullable(),
};
type RawRow = z.infer<z.ZodObject<typeof shape>>;

function toRecord(r: RawRow): OrganizationRecord {
  return {
    id: r.id,
    name: r.name,
    slug: r.slug,
    tier: r.tier,
    credits: r.credits,
    settings: r.settings,
    primaryDomain: r.primary_domain,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deletedAt: r.deleted_at,
  };
}

const recordRow = z.object(shape).transform(toRecord);
const listRow = z.object({ ...shape, sort_us: z.number() }).transform((r) => ({ item: toRecord(r), position: { us: r.sort_us, id: r.id } }));
const COLUMNS = sql.fragment`id, name, slug::text AS slug, tier::text AS tier, credits, settings,
  platform_auth.organization_primary_domain(id) AS primary_domain, created_at, updated_at, deleted_at`;

const slugInput = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be lowercase letters, digits and inner hyphens');
const nameInput = z.string().trim().min(1).max(200);
const amountInput = z.number().int().min(1).max(1_000_000_000);

const createInput = z
  .object({
    name: nameInput,
    slug: slugInput,
    tier: z.enum(ORGANIZATION_TIERS).default('free'),
    credits: z.number().int().min(0).max(1_000_000_000).default(0),
    settings: organizationSettingsSchema.default({}),
    /** The first owner; the organization is created with this membership in one transaction. */
    ownerUserId: z.uuid(),
  })
  .strict();
export type CreateOrganizationInput = z.input<typeof createInput>;

const updateInput = z
  .object({ name: nameInput.optional(), tier: z.enum(ORGANIZATION_TIERS).optional(), settings: organizationSettingsSchema.optional() })
  .strict();
export type UpdateOrganizationInput = z.input<typeof updateInput>;

/**
 * Organizations.
 *
 * Pools: `create` and `getById` are privileged (no tenant exists yet, or
 * the caller is an operator) and run on the owner pool; everything else is
 * tenant work on the application pool through `withTenant`, where row-level
 * security limits the rows to the current organization (and, for
 * `listForCurrentUser`, the organizations the current user belongs to).
 */
@injectable()
@accessControlled
export class OrganizationRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Creates an organization, its owner membership and default security settings in one transaction.
   * @throws ValidationError naming the invalid field (`name`, `slug`, `tier`, `settings.*`, `ownerUserId`)
   * @throws ConflictError `organizations_slug_key` for a taken slug, `memberships_user_id_fkey` for an unknown owner
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async create(input: CreateOrganizationInput): Promise<OrganizationRecord> {
    const data = parseInput(createInput, input);
    // The id is chosen here so the transaction can run in the new organization's scope (sql/0070).
    const scope = { organizationId: randomUUID(), userId: data.ownerUserId };
    return withPostgresErrors(() => scopedPool(this.postgres.appPool, scope).transaction((tx) => this.#insert(tx, scope.organizationId, data)));
  }

  /**
   * {@link create} in the caller's transaction `tx` (sign-up: `UserRepository.createWith`'s, so the owner and
   * the organization commit together). `tx` enters the new organization's scope with its owner
   * (`enterScope`; sql/0070 admits an organization only in its own scope) and stays there: what
   * follows in `tx` is that tenant's work, e.g. the `auth.signup` audit event.
   * @throws ValidationError naming the invalid field; ConflictError as {@link create}
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async createWithin(tx: DatabaseTransactionConnection, input: CreateOrganizationInput): Promise<OrganizationRecord> {
    const data = parseInput(createInput, input);
    const scope = { organizationId: randomUUID(), userId: data.ownerUserId };
    await enterScope(tx, scope);
    return this.#insert(tx, scope.organizationId, data);
  }

  async #insert(tx: DatabaseTransactionConnection, id: string, data: z.output<typeof createInput>): Promise<OrganizationRecord> {
    const organization = await tx.one(sql.type(recordRow)`
      INSERT INTO organizations (id, name, slug, tier, credits, settings)
      VALUES (${id}, ${data.name}, ${data.slug}, ${data.tier}, ${data.credits}, ${sql.jsonb(data.settings)})
      RETURNING ${COLUMNS}`);
    await tx.query(sql.type(noRows)`
      INSERT INTO memberships (organization_id, user_id, role) VALUES (${organization.id}, ${data.ownerUserId}, 'owner')`);
    await tx.query(sql.type(noRows)`INSERT INTO organization_security_settings (organization_id) VALUES (${organization.id})`);
    return organization;
  }

  /**
   * Ids of every live (not soft-deleted) organization, in id order, a page at
   * a time: for reconcilers and maintenance that walk all tenants.
   * @throws TenantAccessError without an AdminScope
   */
  @declareAccess({ adminScope: true })
  async *listActiveIds(scope: AdminScope, pageSize = 500): AsyncGenerator<string> {
    assertAdminScope(scope);
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const ids = await withPostgresErrors(() =>
        scopedPool(this.postgres.appPool, { adminActor: scope.actor }).anyFirst(
          sql.type(z.object({ id: z.uuid() }))`SELECT id FROM organizations WHERE deleted_at IS NULL AND id > ${after} ORDER BY id LIMIT ${pageSize}`,
        ),
      );
      yield* ids;
      if (ids.length < pageSize) return;
      after = ids.at(-1) ?? after;
    }
  }

  /**
   * Any organization by id, deleted or not (operators, pre-tenant flows).
   * @throws ValidationError naming `id`
   */
  @declareAccess({ preTenant: 'sign-in checks of an organization before a context exists' })
  async getById(id: string): Promise<OrganizationRecord | undefined> {
    const organizationId = parseInput(uuidInput, id, 'id');
    const row = await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { organizationId }).maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM organizations WHERE id = ${organizationId}`),
    );
    return row ?? undefined;
  }

  /**
   * The current organization.
   * @throws NotFoundError when it does not exist (or was hard-deleted)
   */
  @declareAccess({ requires: 'organization:read' })
  async getCurrent(ctx: TenantContext): Promise<OrganizationRecord> {
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM organizations WHERE id = ${ctx.organizationId}`),
    );
    if (!row) throw new NotFoundError('organization', ctx.organizationId);
    return row;
  }

  /**
   * Changes name, tier and/or settings of the current organization (settings are replaced as a whole).
   * @throws ValidationError naming the invalid field
   * @throws NotFoundError when the organization is gone or soft-deleted
   */
  @declareAccess({ requires: 'organization:write' })
  async update(ctx: TenantContext, input: UpdateOrganizationInput): Promise<OrganizationRecord> {
    const data = parseInput(updateInput, input);
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(recordRow)`
        UPDATE organizations SET
          name = coalesce(${data.name ?? null}, name),
          tier = coalesce(${data.tier ?? null}::organization_tier, tier),
          settings = coalesce(${data.settings === undefined ? null : sql.jsonb(data.settings)}, settings)
        WHERE id = ${ctx.organizationId} AND deleted_at IS NULL
        RETURNING ${COLUMNS}`),
    );
    if (!row) throw new NotFoundError('organization', ctx.organizationId);
    return row;
  }

  /**
   * Takes `amount` credits atomically: one UPDATE whose WHERE refuses to go
   * below zero, so concurrent debits can never overdraw.
   * @returns the remaining credits
   * @throws ValidationError naming `amount`
   * @throws ConflictError `organizations_credits_non_negative` when the balance is too low
   */
  @declareAccess({ requires: 'billing:spend' })
  async debitCredits(ctx: TenantContext, amount: number): Promise<number> {
    const value = parseInput(amountInput, amount, 'amount');
    const remaining = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOneFirst(sql.type(z.object({ credits: z.number() }))`
        UPDATE organizations SET credits = credits - ${value}
        WHERE id = ${ctx.organizationId} AND credits >= ${value} AND deleted_at IS NULL
        RETURNING credits`),
    );
    if (remaining === null) {
      throw new ConflictError(`Insufficient credits for a debit of ${value}`, { store: 'postgres', constraint: 'organizations_credits_non_negative' });
    }
    return remaining;
  }

  /**
   * Adds `amount` credits.
   * @returns the new balance
   * @throws ValidationError naming `amount`; NotFoundError when the organization is gone
   */
  @declareAccess({ requires: 'billing:manage' })
  async addCredits(ctx: TenantContext, amount: number): Promise<number> {
    const value = parseInput(amountInput, amount, 'amount');
    const balance = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOneFirst(sql.type(z.object({ credits: z.number() }))`
        UPDATE organizations SET credits = credits + ${value} WHERE id = ${ctx.organizationId} AND deleted_at IS NULL RETURNING credits`),
    );
    if (balance === null) throw new NotFoundError('organization', ctx.organizationId);
    return balance;
  }

  /**
   * Marks the current organization deleted (rows stay until the deletion flow erases them).
   * @returns false when it was already deleted
   */
  @declareAccess({ requires: 'organization:delete' })
  async softDelete(ctx: TenantContext): Promise<boolean> {
    const row = await withTenant(this.postgres.appPool, ctx, async (tx) => {
      const deleted = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        UPDATE organizations SET deleted_at = now() WHERE id = ${ctx.organizationId} AND deleted_at IS NULL RETURNING id`);
      if (deleted) await this.audit.appendWithin(tx, [tenantAuditEvent(ctx, 'organization.deleted', { organizationId: ctx.organizationId }, 50)]);
      return deleted;
    });
    return row !== null;
  }

  /**
   * Live organizations the current user belongs to, oldest first.
   * @throws ValidationError naming `page.*`
   */
  @declareAccess({ ownAccount: true })
  async listForCurrentUser(ctx: TenantContext, page?: KeysetPageInput): Promise<KeysetPage<OrganizationRecord>> {
    const { limit, position } = parseKeysetPage(page);
    const rows = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(listRow)`
        SELECT ${COLUMNS}, ${sortMicros(sql.fragment`created_at`)} AS sort_us
        FROM organizations o
        WHERE o.deleted_at IS NULL
          AND EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = o.id AND m.user_id = ${ctx.userId})
          ${position ? sql.fragment`AND (o.created_at, o.id) > (${microsToTimestamp(position.us)}, ${position.id})` : sql.fragment``}
        ORDER BY o.created_at, o.id
        LIMIT ${limit + 1}`),
    );
    return toKeysetPage(rows, limit);
  }
}
