import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { MEMBERSHIP_ROLES, type MembershipRole } from '../../tenancy/membership-role.js';
import { PostgresConnection } from '../postgres-connection.js';
import { preparedStatement } from '../prepared-statement.js';
import { scopedPool } from '../with-scope.js';
import { noRows } from './no-rows.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { AuditRepository, type AuditEventInput } from './audit-repository.js';

/** A membership of a user as the sign-in flows need it: which organization, under which role. */
export interface AccountMembership {
  readonly organizationId: string;
  readonly organizationName: string;
  readonly organizationSlug: string;
  readonly role: MembershipRole;
  readonly joinedAt: Date;
}

const membershipRow = z
  .object({ organization_id: z.uuid(), name: z.string(), slug: z.string(), role: z.enum(MEMBERSHIP_ROLES), created_at: z.date() })
  .transform((r): AccountMembership => ({
    organizationId: r.organization_id,
    organizationName: r.name,
    organizationSlug: r.slug,
    role: r.role,
    joinedAt: r.created_at,
  }));

const MEMBERSHIPS_OF_USER = preparedStatement(
  'pd_memberships_of_user',
  `SELECT m.organization_id, o.name, o.slug::text AS slug, m.role::text AS role, m.created_at
   FROM memberships m JOIN organizations o ON o.id = m.organization_id
   WHERE m.user_id = $1::uuid AND o.deleted_at IS NULL
   ORDER BY m.created_at, m.organization_id`,
  membershipRow,
);

const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const hashInput = z.string().regex(BCRYPT_HASH, 'must be a bcrypt hash');
const depthInput = z.number().int().min(0).max(24);

/**
 * Pre-tenant account queries of the session flows that the aggregate
 * repositories do not offer (yet): a user's memberships across organizations
 * at sign-in (before any organization is chosen, so no `TenantContext` can
 * exist) and password changes with history. All on the application pool
 * in the user's scope; callers authenticate first (docs/schema.md,
 * "Pre-tenant auth paths").
 *
 * Why a separate repository: `UserRepository` and `MembershipRepository`
 * belong to another part of the package; these methods are meant to move
 * there, unchanged, when their owner adopts them.
 */
@injectable()
@accessControlled
export class AccountRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * The user's memberships in live (not soft-deleted) organizations, oldest first.
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async listMemberships(userId: string): Promise<readonly AccountMembership[]> {
    const id = parseInput(uuidInput, userId, 'userId');
    // Every sign-in reads this: the user's scope and the read in one round trip (PostgresConnection.scopedQuery).
    return this.postgres.scopedQuery({ userId: id }, MEMBERSHIPS_OF_USER, [id]);
  }

  /**
   * The user's membership in one live organization, or `undefined`.
   * @throws ValidationError naming `userId` / `organizationId`
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async findMembership(userId: string, organizationId: string): Promise<AccountMembership | undefined> {
    const d = parseInput(z.object({ userId: z.uuid(), organizationId: z.uuid() }), { userId, organizationId });
    const row = await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { userId: d.userId }).maybeOne(sql.type(membershipRow)`
        SELECT m.organization_id, o.name, o.slug::text AS slug, m.role::text AS role, m.created_at
        FROM memberships m JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = ${d.userId} AND m.organization_id = ${d.organizationId} AND o.deleted_at IS NULL`),
    );
    return row ?? undefined;
  }

  /**
   * The current password hash (if any) followed by the `depth` most recent
   * previous ones, newest first: what the policy's `reused` rule compares.
   * @throws ValidationError naming `userId` / `depth`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async recentPasswordHashes(userId: string, depth: number): Promise<readonly string[]> {
    const d = parseInput(z.object({ userId: z.uuid(), depth: depthInput }), { userId, depth });
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { userId: d.userId }).anyFirst(sql.type(z.object({ password_hash: z.string() }))`
        (SELECT password_hash FROM users WHERE id = ${d.userId} AND password_hash IS NOT NULL)
        UNION ALL
        (SELECT password_hash FROM password_history WHERE user_id = ${d.userId} ORDER BY created_at DESC LIMIT ${d.depth})`),
    );
  }

  /**
   * Sets a new password: the old hash moves to `password_history` (trimmed to
   * `historyDepth` rows), `password_changed_at` is stamped, the
   * must-change flag and any lockout are cleared — all in one transaction
   * under the user's row lock, so two concurrent changes cannot interleave
   * their history writes. `options.events` (e.g. `auth.password.changed`) are
   * written in the same transaction: they exist exactly when the change does;
   * so does `options.within(tx)` — what must commit with the new password, e.g.
   * the revocation of the sessions it ends (`SessionRevoker.revokeAllForUserWithin`).
   * An error in `within` rolls the change back.
   * @returns false for an unknown user (no event written)
   * @throws ValidationError naming `userId` / `passwordHash` / `historyDepth` / `events.<i>.*`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async changePassword(
    userId: string,
    passwordHash: string,
    historyDepth: number,
    options: { readonly events?: readonly AuditEventInput[]; readonly within?: (tx: DatabaseTransactionConnection) => Promise<void> } = {},
  ): Promise<boolean> {
    const d = parseInput(z.object({ userId: z.uuid(), passwordHash: hashInput, historyDepth: depthInput }), { userId, passwordHash, historyDepth });
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { userId: d.userId }).transaction(async (tx) => {
        const current = await tx.maybeOne(sql.type(z.object({ password_hash: z.string().nullable() }))`
          SELECT password_hash FROM users WHERE id = ${d.userId} FOR UPDATE`);
        if (!current) return false;
        if (current.password_hash !== null && d.historyDepth > 0) {
          await tx.query(sql.type(noRows)`INSERT INTO password_history (user_id, password_hash) VALUES (${d.userId}, ${current.password_hash})`);
        }
        await tx.query(sql.type(noRows)`
          DELETE FROM password_history WHERE user_id = ${d.userId} AND id NOT IN (
            SELECT id FROM password_history WHERE user_id = ${d.userId} ORDER BY created_at DESC, id LIMIT ${d.historyDepth})`);
        await tx.query(sql.type(noRows)`
          UPDATE users SET password_hash = ${d.passwordHash}, password_changed_at = now(), must_change_password = false,
                           failed_login_count = 0, locked_until = NULL
          WHERE id = ${d.userId}`);
        if (options.events !== undefined && options.events.length > 0) await this.audit.appendWithin(tx, options.events);
        await options.within?.(tx);
        return true;
      }),
    );
  }

  /**
   * When the user's password was last set (`null`: never, e.g. an OAuth-only account).
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async passwordChangedAt(userId: string): Promise<Date | null> {
    const id = parseInput(uuidInput, userId, 'userId');
    const row = await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { userId: id }).maybeOne(sql.type(z.object({ password_changed_at: z.date().nullable() }))`
        SELECT password_changed_at FROM users WHERE id = ${id}`),
    );
    return row?.password_changed_at ?? null;
  }

  /**
   * Replaces a hash by a rehash of the same password (cost raised) with a
   * compare-and-set, so a password change racing the rehash is never undone.
   * No history entry: the password did not change.
   * @returns true when the hash was replaced
   * @throws ValidationError naming `userId` / `currentHash` / `newHash`
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async replacePasswordHash(userId: string, currentHash: string, newHash: string): Promise<boolean> {
    const d = parseInput(z.object({ userId: z.uuid(), currentHash: hashInput, newHash: hashInput }), { userId, currentHash, newHash });
    const row = await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, { userId: d.userId }).maybeOne(sql.type(z.object({ id: z.uuid() }))`
        UPDATE users SET password_hash = ${d.newHash} WHERE id = ${d.userId} AND password_hash = ${d.currentHash} RETURNING id`),
    );
    return row !== null;
  }
}
