import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError, TenantAccessError } from '../../errors.js';
import { MEMBERSHIP_ROLES, type MembershipRole } from '../../tenancy/membership-role.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { PostgresConnection } from '../postgres-connection.js';
import { withTenant } from '../with-tenant.js';
import { decodeKeysetCursor, keysetPageInputSchema, microsToTimestamp, sortMicros, toKeysetPage, type KeysetPage, type KeysetPageInput } from './keyset-page.js';
import { parseInput } from '../../parse-input.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** `memberships.profile`: per-organization stats and preferences of a member. */
export const membershipProfileSchema = z
  .object({
    title: z.string().max(100).optional(),
    messagesSent: z.number().int().min(0).optional(),
    lastActiveAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type MembershipProfile = z.output<typeof membershipProfileSchema>;

export interface MembershipRecord {
  readonly id: string;
  readonly organizationId: string;
  readonly userId: string;
  readonly role: MembershipRole;
  readonly profile: MembershipProfile;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

const shape = {
  id: z.uuid(),
  organization_id: z.uuid(),
  user_id: z.uuid(),
  role: z.enum(MEMBERSHIP_ROLES),
  profile: membershipProfileSchema.strip(),
  created_at: z.date(),
  updated_at: z.date(),
};
type RawRow = z.infer<z.ZodObject<typeof shape>>;

function toRecord(r: RawRow): MembershipRecord {
  return { id: r.id, organizationId: r.organization_id, userId: r.user_id, role: r.role, profile: r.profile, createdAt: r.created_at, updatedAt: r.updated_at };
}

const recordRow = z.object(shape).transform(toRecord);
const listRow = z.object({ ...shape, sort_us: z.number() }).transform((r) => ({ item: toRecord(r), position: { us: r.sort_us, id: r.id } }));
const COLUMNS = sql.fragment`id, organization_id, user_id, role::text AS role, profile, created_at, updated_at`;

const addInput = z.object({ userId: z.uuid(), role: z.enum(MEMBERSHIP_ROLES).default('member'), profile: membershipProfileSchema.default({}) }).strict();
export type AddMembershipInput = z.input<typeof addInput>;

/**
 * Who may manage members: owners and admins; only an owner may grant or
 * take away the owner role. The database separately guarantees that an
 * organization keeps at least one owner (trigger `memberships_last_owner`).
 */
function requireManager(ctx: TenantContext, touchesOwner: boolean): void {
  if (touchesOwner ? ctx.role !== 'owner' : ctx.role !== 'owner' && ctx.role !== 'admin') {
    throw new TenantAccessError(touchesOwner ? 'Only an owner may grant or remove the owner role' : 'Only owners and admins may manage members', {
      permission: touchesOwner ? 'memberships:owner' : 'memberships:manage',
    });
  }
}

/**
 * Memberships of users in organizations; all tenant work on the application
 * pool through `withTenant`.
 */
@injectable()
@accessControlled
export class MembershipRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Adds a user to the current organization.
   * @throws ValidationError naming the invalid field; TenantAccessError when `ctx.role` may not do it
   * @throws ConflictError `memberships_organization_user_key` (already a member) or `memberships_user_id_fkey` (unknown user)
   */
  @declareAccess({ requires: 'members:manage' })
  async add(ctx: TenantContext, input: AddMembershipInput): Promise<MembershipRecord> {
    const d = parseInput(addInput, input);
    requireManager(ctx, d.role === 'owner');
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.one(sql.type(recordRow)`
        INSERT INTO memberships (organization_id, user_id, role, profile)
        VALUES (${ctx.organizationId}, ${d.userId}, ${d.role}, ${sql.jsonb(d.profile)})
        RETURNING ${COLUMNS}`),
    );
  }

  /** The membership of `userId` in the current organization. @throws ValidationError naming `userId` */
  @declareAccess({ requires: 'members:read' })
  async get(ctx: TenantContext, userId: string): Promise<MembershipRecord | undefined> {
    const id = parseInput(z.uuid(), userId, 'userId');
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM memberships WHERE organization_id = ${ctx.organizationId} AND user_id = ${id}`),
    );
    return row ?? undefined;
  }

  /**
   * Changes a member's role. Demoting the last owner is refused by the database, safely under concurrency.
   * @throws ValidationError naming `userId` / `role`; TenantAccessError; NotFoundError for a non-member
   * @throws ConflictError `memberships_last_owner`
   */
  @declareAccess({ requires: 'members:manage' })
  async changeRole(ctx: TenantContext, userId: string, role: MembershipRole): Promise<MembershipRecord> {
    const d = parseInput(z.object({ userId: z.uuid(), role: z.enum(MEMBERSHIP_ROLES) }), { userId, role });
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      // Locked so the permission check and the update see the same current role.
      const current = await tx.maybeOneFirst(sql.type(z.object({ role: z.enum(MEMBERSHIP_ROLES) }))`
        SELECT role::text AS role FROM memberships WHERE organization_id = ${ctx.organizationId} AND user_id = ${d.userId} FOR UPDATE`);
      if (current === null) throw new NotFoundError('membership', d.userId);
      requireManager(ctx, current === 'owner' || d.role === 'owner');
      return tx.one(sql.type(recordRow)`
        UPDATE memberships SET role = ${d.role} WHERE organization_id = ${ctx.organizationId} AND user_id = ${d.userId} RETURNING ${COLUMNS}`);
    });
  }

  /**
   * Removes a member (anyone may remove themselves; removing others needs owner/admin).
   * @returns false when the user was not a member
   * @throws TenantAccessError; ConflictError `memberships_last_owner` for the last owner
   */
  @declareAccess({ requires: 'members:read' })
  async remove(ctx: TenantContext, userId: string): Promise<boolean> {
    const id = parseInput(z.uuid(), userId, 'userId');
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const current = await tx.maybeOneFirst(sql.type(z.object({ role: z.enum(MEMBERSHIP_ROLES) }))`
        SELECT role::text AS role FROM memberships WHERE organization_id = ${ctx.organizationId} AND user_id = ${id} FOR UPDATE`);
      if (current === null) return false;
      if (id !== ctx.userId) requireManager(ctx, current === 'owner');
      await tx.query(sql.type(z.object({ id: z.uuid() }))`DELETE FROM memberships WHERE organization_id = ${ctx.organizationId} AND user_id = ${id} RETURNING id`);
      return true;
    });
  }

  /**
   * Counts activity in the member's profile atomically (no read-modify-write).
   * @throws ValidationError naming `messages`
   */
  @declareAccess({ requires: 'conversations:write' })
  async recordActivity(ctx: TenantContext, messages = 1): Promise<MembershipProfile | undefined> {
    const n = parseInput(z.number().int().min(0).max(1_000_000), messages, 'messages');
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(z.object({ profile: membershipProfileSchema.strip() }))`
        UPDATE memberships SET profile = profile || jsonb_build_object(
          'messagesSent', coalesce((profile->>'messagesSent')::bigint, 0) + ${n},
          'lastActiveAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
        WHERE organization_id = ${ctx.organizationId} AND user_id = ${ctx.userId}
        RETURNING profile`),
    );
    return row?.profile;
  }

  /**
   * Members of the current organization, oldest first.
   * @throws ValidationError naming `page.*`
   */
  @declareAccess({ requires: 'members:read' })
  async list(ctx: TenantContext, page?: KeysetPageInput): Promise<KeysetPage<MembershipRecord>> {
    const { limit, after } = parseInput(keysetPageInputSchema, page, 'page');
    const position = after === undefined ? undefined : decodeKeysetCursor(after);
    const rows = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(listRow)`
        SELECT ${COLUMNS}, ${sortMicros(sql.fragment`created_at`)} AS sort_us
        FROM memberships
        WHERE organization_id = ${ctx.organizationId}
          ${position ? sql.fragment`AND (created_at, id) > (${microsToTimestamp(position.us)}, ${position.id})` : sql.fragment``}
        ORDER BY created_at, id
        LIMIT ${limit + 1}`),
    );
    return toKeysetPage(rows, limit);
  }

  /** Every membership of the current user, across organizations (row-level security allows one's own). */
  @declareAccess({ ownAccount: true })
  async listForCurrentUser(ctx: TenantContext): Promise<readonly MembershipRecord[]> {
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(recordRow)`SELECT ${COLUMNS} FROM memberships WHERE user_id = ${ctx.userId} ORDER BY created_at, id`),
    );
  }
}
