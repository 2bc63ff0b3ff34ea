import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, NotFoundError, TokenError } from '../../errors.js';
import { generateSecretToken, hashToken } from '../../security/secret-token.js';
import { authorize } from '../../tenancy/permission-policy.js';
import { AuditRepository, tenantAuditEvent } from './audit-repository.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { MEMBERSHIP_ROLES, type MembershipRole } from '../../tenancy/membership-role.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { PostgresConnection } from '../postgres-connection.js';
import { withTenant } from '../with-tenant.js';
import { type KeysetPage, type KeysetPageInput, microsToTimestamp, parseKeysetPage, sortMicros, toKeysetPage } from './keyset-page.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { withScope } from '../with-scope.js';

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

const addInput = z
  .object({
    userId: z.uuid(),
    role: z.enum(MEMBERSHIP_ROLES).default('member'),
    profile: membershipProfileSchema.default({}),
    /** How long the invitation stays open; default 7 days. */
    expiresInSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86_400)
      .default(7 * 86_400),
  })
  .strict();
export type AddMembershipInput = z.input<typeof addInput>;

/** An invitation to join an organization, answered only by the invited user. */
export interface MembershipInvitationRecord {
  readonly id: string;
  readonly organizationId: string;
  readonly userId: string;
  readonly invitedBy: string | null;
  readonly role: MembershipRole;
  readonly expiresAt: Date;
  readonly answer: 'accepted' | 'declined' | null;
  readonly answeredAt: Date | null;
  readonly createdAt: Date;
}

/** What {@link MembershipRepository.add} returns: the token is shown once — send it to the invited user; only its hash is stored. */
export interface MembershipInvitation {
  readonly invitation: MembershipInvitationRecord;
  readonly token: string;
}

const invitationShape = {
  id: z.uuid(),
  organization_id: z.uuid(),
  user_id: z.uuid(),
  invited_by: z.uuid().nullable(),
  role: z.enum(MEMBERSHIP_ROLES),
  expires_at: z.date(),
  answer: z.enum(['accepted', 'declined']).nullable(),
  answered_at: z.date().nullable(),
  created_at: z.date(),
};
const invitationRow = z.object(invitationShape).transform((r): MembershipInvitationRecord => ({
  id: r.id,
  organizationId: r.organization_id,
  userId: r.user_id,
  invitedBy: r.invited_by,
  role: r.role,
  expiresAt: r.expires_at,
  answer: r.answer,
  answeredAt: r.answered_at,
  createdAt: r.created_at,
}));
const invitationListRow = z
  .object({ ...invitationShape, sort_us: z.number() })
  .transform((r) => ({ item: invitationRow.parse(r), position: { us: r.sort_us, id: r.id } }));
const INVITATION_COLUMNS = sql.fragment`id, organization_id, user_id, invited_by, role::text AS role, expires_at, answer, answered_at, created_at`;
const openInvitationRow = z.object({ ...invitationShape, profile: membershipProfileSchema.strip(), expired: z.boolean() });
const tokenInput = z.string().min(16).max(256);

/**
 * Refinements of `members:manage`: only an owner may grant or take away the
 * owner role. The database separately guarantees that an organization keeps
 * at least one owner (trigger `memberships_last_owner`).
 * @throws TenantAccessError `members:owner`
 */
function requireOwnerIf(ctx: TenantContext, touchesOwner: boolean): void {
  if (touchesOwner) authorize(ctx, 'members:owner');
}

/**
 * Memberships of users in organizations, and the invitations that create
 * them; tenant work on the application pool through `withTenant`, answering
 * an invitation by its token on the owner pool (the token is the credential).
 */
@injectable()
@accessControlled
export class MembershipRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Invites a user into the current organization: nothing changes for the
   * user, and the organization sees nothing of them, until they accept with
   * the returned token ({@link acceptInvitation}). Audited as `membership.invited`.
   * @returns the invitation and its token (shown once; send it to the user, never log it)
   * @throws ValidationError naming the invalid field; TenantAccessError `members:manage` / `members:owner`
   * @throws ConflictError `memberships_organization_user_key` (already a member),
   *   `membership_invitations_open_key` (an invitation is already open) or `membership_invitations_user_id_fkey` (unknown user)
   */
  @declareAccess({ requires: 'members:manage' })
  async add(ctx: TenantContext, input: AddMembershipInput): Promise<MembershipInvitation> {
    const d = parseInput(addInput, input);
    requireOwnerIf(ctx, d.role === 'owner');
    const token = generateSecretToken();
    const invitation = await withTenant(this.postgres.appPool, ctx, async (tx) => {
      const member = await tx.exists(sql.type(z.object({ exists: z.boolean() }))`
        SELECT 1 FROM memberships WHERE organization_id = ${ctx.organizationId} AND user_id = ${d.userId}`);
      if (member) throw new ConflictError('The user is already a member', { store: 'postgres', constraint: 'memberships_organization_user_key' });
      const row = await tx.one(sql.type(invitationRow)`
        INSERT INTO membership_invitations (organization_id, user_id, invited_by, role, profile, token_hash, expires_at)
        VALUES (${ctx.organizationId}, ${d.userId}, ${ctx.userId}, ${d.role}, ${sql.jsonb(d.profile)}, ${sql.binary(hashToken(token))},
                now() + make_interval(secs => ${d.expiresInSeconds}))
        RETURNING ${INVITATION_COLUMNS}`);
      await this.audit.appendWithin(tx, [
        {
          eventType: 'membership.invited',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          details: { invitationId: row.id, targetUserId: d.userId, role: d.role },
        },
      ]);
      return row;
    });
    return { invitation, token };
  }

  /**
   * The invited user accepts: the membership is created with the invited role
   * and the invitation is spent, in one transaction. Audited as `membership.invitation_accepted`.
   * @throws ValidationError naming `token`
   * @throws TokenError `invalid` (unknown token), `expired`, `consumed` (already answered)
   * @throws ConflictError `memberships_organization_user_key` when the user is already a member
   */
  @declareAccess({ preTenant: 'the invited user answers with the token sent to them' })
  async acceptInvitation(token: string): Promise<MembershipRecord> {
    return this.#answer(token, 'accepted', async (tx, open) => {
      const membership = await tx.one(sql.type(recordRow)`
        INSERT INTO memberships (organization_id, user_id, role, profile)
        VALUES (${open.organization_id}, ${open.user_id}, ${open.role}, ${sql.jsonb(open.profile)})
        RETURNING ${COLUMNS}`);
      return membership;
    });
  }

  /**
   * The invited user declines; the organization can invite again. Audited as `membership.invitation_declined`.
   * @throws ValidationError naming `token`; TokenError `invalid` / `expired` / `consumed`
   */
  @declareAccess({ preTenant: 'the invited user answers with the token sent to them' })
  async declineInvitation(token: string): Promise<MembershipInvitationRecord> {
    return this.#answer(token, 'declined', async (tx, open) =>
      tx.one(sql.type(invitationRow)`SELECT ${INVITATION_COLUMNS} FROM membership_invitations WHERE id = ${open.id}`),
    );
  }

  async #answer<T>(
    token: string,
    answer: 'accepted' | 'declined',
    then: (tx: DatabaseTransactionConnection, open: z.infer<typeof openInvitationRow>) => Promise<T>,
  ): Promise<T> {
    const hash = hashToken(parseInput(tokenInput, token, 'token'));
    // Pre-tenant: the token names the organization and the invited user (a narrow
    // SECURITY DEFINER lookup, sql/0070); the answer runs in that scope on the application role.
    const target = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(z.object({ organization_id: z.uuid(), user_id: z.uuid() }))`
        SELECT organization_id, user_id FROM platform_auth.invitation_by_token(${sql.binary(hash)})`),
    );
    if (!target) throw new TokenError('invalid', 'Invalid invitation');
    return withScope(this.postgres.appPool, { organizationId: target.organization_id, userId: target.user_id }, async (tx) => {
      const open = await tx.maybeOne(sql.type(openInvitationRow)`
          SELECT ${INVITATION_COLUMNS}, profile, expires_at <= now() AS expired
          FROM membership_invitations WHERE token_hash = ${sql.binary(hash)} FOR UPDATE`);
      if (!open) throw new TokenError('invalid', 'Invalid invitation');
      if (open.answer !== null) throw new TokenError('consumed', 'The invitation was already answered');
      if (open.expired) throw new TokenError('expired', 'The invitation has expired');
      await tx.query(sql.type(z.object({}))`UPDATE membership_invitations SET answer = ${answer}, answered_at = now() WHERE id = ${open.id}`);
      const result = await then(tx, open);
      await this.audit.appendWithin(tx, [
        {
          eventType: `membership.invitation_${answer}`,
          organizationId: open.organization_id,
          actorUserId: open.user_id,
          details: { invitationId: open.id, role: open.role },
        },
      ]);
      return result;
    });
  }

  /**
   * The current organization's open invitations, oldest first (the invited
   * user's id and role only: nothing of the user is visible before they accept).
   * @throws ValidationError naming `page.*`
   */
  @declareAccess({ requires: 'members:manage' })
  async listInvitations(ctx: TenantContext, page?: KeysetPageInput): Promise<KeysetPage<MembershipInvitationRecord>> {
    const { limit, position } = parseKeysetPage(page);
    const rows = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(invitationListRow)`
        SELECT ${INVITATION_COLUMNS}, ${sortMicros(sql.fragment`created_at`)} AS sort_us
        FROM membership_invitations
        WHERE organization_id = ${ctx.organizationId} AND answer IS NULL
          ${position ? sql.fragment`AND (created_at, id) > (${microsToTimestamp(position.us)}, ${position.id})` : sql.fragment``}
        ORDER BY created_at, id
        LIMIT ${limit + 1}`),
    );
    return toKeysetPage(rows, limit);
  }

  /**
   * Withdraws an invitation of the current organization (answered or not).
   * @returns false when there was none
   * @throws ValidationError naming `id`
   */
  @declareAccess({ requires: 'members:manage' })
  async revokeInvitation(ctx: TenantContext, id: string): Promise<boolean> {
    const invitationId = parseInput(uuidInput, id, 'id');
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx
        .maybeOne(
          sql.type(z.object({ id: z.uuid(), user_id: z.uuid() }))`
        DELETE FROM membership_invitations WHERE organization_id = ${ctx.organizationId} AND id = ${invitationId} AND answer IS NULL
        RETURNING id, user_id`,
        )
        .then(async (revoked) => {
          if (revoked)
            await this.audit.appendWithin(tx, [tenantAuditEvent(ctx, 'membership.invitation_revoked', { invitationId, targetUserId: revoked.user_id })]);
          return revoked;
        }),
    );
    return row !== null;
  }

  /** The membership of `userId` in the current organization. @throws ValidationError naming `userId` */
  @declareAccess({ requires: 'members:read' })
  async get(ctx: TenantContext, userId: string): Promise<MembershipRecord | undefined> {
    const id = parseInput(uuidInput, userId, 'userId');
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
      requireOwnerIf(ctx, current === 'owner' || d.role === 'owner');
      const updated = await tx.one(sql.type(recordRow)`
        UPDATE memberships SET role = ${d.role} WHERE organization_id = ${ctx.organizationId} AND user_id = ${d.userId} RETURNING ${COLUMNS}`);
      if (current !== d.role) {
        const risk = current === 'owner' || d.role === 'owner' || d.role === 'admin' ? 30 : 10;
        await this.audit.appendWithin(tx, [tenantAuditEvent(ctx, 'membership.role_changed', { targetUserId: d.userId, from: current, to: d.role }, risk)]);
      }
      return updated;
    });
  }

  /**
   * Removes a member (anyone may remove themselves; removing others needs owner/admin).
   * @returns false when the user was not a member
   * @throws TenantAccessError; ConflictError `memberships_last_owner` for the last owner
   */
  @declareAccess({ requires: 'members:read' })
  async remove(ctx: TenantContext, userId: string): Promise<boolean> {
    const id = parseInput(uuidInput, userId, 'userId');
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const current = await tx.maybeOneFirst(sql.type(z.object({ role: z.enum(MEMBERSHIP_ROLES) }))`
        SELECT role::text AS role FROM memberships WHERE organization_id = ${ctx.organizationId} AND user_id = ${id} FOR UPDATE`);
      if (current === null) return false;
      // Anyone may leave in person; removing someone else (or an API key removing its creator) is member management.
      if (id !== ctx.userId || ctx.actor.kind !== 'user') {
        authorize(ctx, 'members:manage');
        requireOwnerIf(ctx, current === 'owner');
      }
      await tx.query(
        sql.type(z.object({ id: z.uuid() }))`DELETE FROM memberships WHERE organization_id = ${ctx.organizationId} AND user_id = ${id} RETURNING id`,
      );
      const left = id === ctx.userId && ctx.actor.kind === 'user';
      await this.audit.appendWithin(tx, [
        tenantAuditEvent(ctx, left ? 'membership.left' : 'membership.removed', { targetUserId: id, role: current }, current === 'owner' ? 30 : 10),
      ]);
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
    const { limit, position } = parseKeysetPage(page);
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
