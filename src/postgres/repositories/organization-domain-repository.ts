import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../../errors.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { PostgresConnection } from '../postgres-connection.js';
import { withScope } from '../with-scope.js';
import { withTenant } from '../with-tenant.js';
import { AuditRepository } from './audit-repository.js';

/** The DNS name of the TXT record that proves control of `domain`. */
export const domainChallengeRecordName = (domain: string): string => `_platform-data-challenge.${domain}`;
/** The TXT value to publish (WorkOS's form: `verification_token=<token>`, workos.com/docs/domain-verification/api). */
export const domainChallengeRecordValue = (token: string): string => `verification_token=${token}`;

/** Roles an auto-join may grant: never `owner` (a DNS record must not hand over the organization). */
export const AUTO_JOIN_ROLES = ['admin', 'member', 'viewer', 'developer'] as const;
export type AutoJoinRole = (typeof AUTO_JOIN_ROLES)[number];

/** A domain claimed by the current organization. */
export interface OrganizationDomain {
  readonly id: string;
  readonly organizationId: string;
  readonly domain: string;
  /** Publish `challenge.value` as a TXT record at `challenge.name`, then call `verifyDomain`. Public by design. */
  readonly challenge: { readonly name: string; readonly value: string };
  readonly verifiedAt: Date | null;
  /** Users whose verified email is at this domain join with this role; null = auto-join off. */
  readonly autoJoinRole: AutoJoinRole | null;
  readonly createdAt: Date;
}

/** What the domain auto-join needs to know about a user (`platform_auth.user_by_id`). */
export interface DomainJoinUser {
  readonly email: string;
  readonly emailVerifiedAt: Date | null;
  readonly status: string;
}

/** The organization that verified a domain, and its auto-join role (`platform_auth.verified_domain`). */
export interface VerifiedDomain {
  readonly organizationId: string;
  readonly domainId: string;
  readonly autoJoinRole: AutoJoinRole | null;
}

const domainRow = z
  .object({
    id: z.uuid(),
    organization_id: z.uuid(),
    domain: z.string(),
    verification_token: z.string(),
    verified_at: z.date().nullable(),
    auto_join_role: z.enum(AUTO_JOIN_ROLES).nullable(),
    created_at: z.date(),
  })
  .transform((r): OrganizationDomain => ({
    id: r.id,
    organizationId: r.organization_id,
    domain: r.domain,
    challenge: { name: domainChallengeRecordName(r.domain), value: domainChallengeRecordValue(r.verification_token) },
    verifiedAt: r.verified_at,
    autoJoinRole: r.auto_join_role,
    createdAt: r.created_at,
  }));
const COLUMNS = sql.fragment`id, organization_id, domain, verification_token, verified_at, auto_join_role::text AS auto_join_role, created_at`;
const verifiedRow = z
  .object({ organization_id: z.uuid(), domain_id: z.uuid(), auto_join_role: z.enum(AUTO_JOIN_ROLES).nullable() })
  .transform((r): VerifiedDomain => ({ organizationId: r.organization_id, domainId: r.domain_id, autoJoinRole: r.auto_join_role }));
const userRow = z
  .object({ email: z.string(), email_verified_at: z.date().nullable(), status: z.string() })
  .transform((r): DomainJoinUser => ({ email: r.email, emailVerifiedAt: r.email_verified_at, status: r.status }));

type Tx = Parameters<Parameters<typeof withTenant>[2]>[0];

/**
 * The `organization_domains` statements of the OrganizationDomains flow, each
 * change with its audit event in the same transaction. Validation, the
 * consumer-domain refusal and the DNS check stay in the flow:
 * {@link markVerified} records a check the caller has made — call it only
 * after the challenge TXT record was found (OrganizationDomains.verifyDomain).
 */
@injectable()
@accessControlled
export class OrganizationDomainRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly auditLog: AuditRepository,
  ) {}

  /**
   * Claims `domain` (already validated) for the current organization with `verificationToken`; audited.
   * @throws ConflictError (`organization_domains_claim_key`) when the organization already claimed it
   */
  @declareAccess({ requires: 'settings:manage' })
  async create(ctx: TenantContext, domain: string, verificationToken: string): Promise<OrganizationDomain> {
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const row = await tx.one(sql.type(domainRow)`
        INSERT INTO organization_domains (organization_id, domain, verification_token)
        VALUES (${ctx.organizationId}, ${domain}, ${verificationToken}) RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, [
        { eventType: 'organization.domain.added', organizationId: ctx.organizationId, actorUserId: ctx.userId, details: { domainId: row.id, domain } },
      ]);
      return row;
    });
  }

  /** The current organization's domains, oldest first. */
  @declareAccess({ requires: 'settings:read' })
  async list(ctx: TenantContext): Promise<readonly OrganizationDomain[]> {
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(domainRow)`SELECT ${COLUMNS} FROM organization_domains WHERE organization_id = ${ctx.organizationId} ORDER BY created_at, id`),
    );
  }

  /**
   * One domain of the current organization.
   * @throws NotFoundError for a domain of another (or no) organization
   */
  @declareAccess({ requires: 'settings:manage' })
  async get(ctx: TenantContext, domainId: string): Promise<OrganizationDomain> {
    return withTenant(this.postgres.appPool, ctx, (tx) => this.#getWithin(tx, ctx, domainId));
  }

  /**
   * Marks a domain verified (the caller found its challenge record) and audits it; a domain
   * already verified is returned unchanged.
   * @throws NotFoundError; ConflictError (`organization_domains_verified_key`) when another organization verified it first
   */
  @declareAccess({ requires: 'settings:manage' })
  async markVerified(ctx: TenantContext, domainId: string): Promise<OrganizationDomain> {
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const row = await tx.maybeOne(sql.type(domainRow)`
        UPDATE organization_domains SET verified_at = now()
        WHERE id = ${domainId} AND organization_id = ${ctx.organizationId} AND verified_at IS NULL RETURNING ${COLUMNS}`);
      if (!row) return this.#getWithin(tx, ctx, domainId);
      await this.auditLog.appendWithin(tx, [
        {
          eventType: 'organization.domain.verified',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          riskScore: 20,
          details: { domainId, domain: row.domain },
        },
      ]);
      return row;
    });
  }

  /**
   * Sets (or clears, `null`) the auto-join role of a verified domain; audited.
   * @throws NotFoundError; ConflictError when the domain is not verified
   */
  @declareAccess({ requires: 'settings:manage' })
  async setAutoJoin(ctx: TenantContext, domainId: string, role: AutoJoinRole | null): Promise<OrganizationDomain> {
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const before = await this.#getWithin(tx, ctx, domainId);
      if (before.verifiedAt === null)
        throw new ConflictError('Auto-join needs a verified domain', { store: 'postgres', constraint: 'organization_domains_auto_join_check' });
      const row = await tx.one(sql.type(domainRow)`
        UPDATE organization_domains SET auto_join_role = ${role}::membership_role WHERE id = ${domainId} RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, [
        {
          eventType: 'organization.domain.auto_join_changed',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          riskScore: role === 'admin' ? 40 : 10,
          details: { domainId, domain: row.domain, from: before.autoJoinRole, to: role },
        },
      ]);
      return row;
    });
  }

  /**
   * Removes a domain claim; audited.
   * @returns false when the organization has no such domain
   */
  @declareAccess({ requires: 'settings:manage' })
  async remove(ctx: TenantContext, domainId: string): Promise<boolean> {
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const removed = await tx.maybeOneFirst(sql.type(z.object({ domain: z.string() }))`
        DELETE FROM organization_domains WHERE id = ${domainId} AND organization_id = ${ctx.organizationId} RETURNING domain`);
      if (removed === null) return false;
      await this.auditLog.appendWithin(tx, [
        { eventType: 'organization.domain.removed', organizationId: ctx.organizationId, actorUserId: ctx.userId, details: { domainId, domain: removed } },
      ]);
      return true;
    });
  }

  /** The email, its verification and the status of a user, or null (`platform_auth.user_by_id`). */
  @declareAccess({ preTenant: 'sign-in: the authenticated user joins the organization that verified their email domain' })
  async findJoinUser(userId: string): Promise<DomainJoinUser | null> {
    return withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(
        sql.type(userRow)`SELECT email::text AS email, email_verified_at, status::text AS status FROM platform_auth.user_by_id(${userId})`,
      ),
    );
  }

  /** The organization that verified `domain` (lowercased), or null (`platform_auth.verified_domain`). */
  @declareAccess({ preTenant: 'sign-in: the authenticated user joins the organization that verified their email domain' })
  async findVerified(domain: string): Promise<VerifiedDomain | null> {
    return withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(verifiedRow)`SELECT organization_id, domain_id, auto_join_role FROM platform_auth.verified_domain(${domain})`),
    );
  }

  /**
   * Adds `userId` to the organization of `verified` with its auto-join role, audited as
   * `organization.domain.auto_joined` in the membership's transaction.
   * @returns false when the user already was a member
   */
  @declareAccess({ preTenant: 'sign-in: the authenticated user joins the organization that verified their email domain' })
  async autoJoin(verified: VerifiedDomain & { readonly autoJoinRole: AutoJoinRole }, userId: string, domain: string): Promise<boolean> {
    const role = verified.autoJoinRole;
    return withScope(this.postgres.appPool, { organizationId: verified.organizationId, userId }, async (tx) => {
      const inserted = await tx.maybeOneFirst(sql.type(z.object({ user_id: z.uuid() }))`
        INSERT INTO memberships (organization_id, user_id, role) VALUES (${verified.organizationId}, ${userId}, ${role}::membership_role)
        ON CONFLICT DO NOTHING RETURNING user_id`);
      if (inserted === null) return false;
      await this.auditLog.appendWithin(tx, [
        {
          eventType: 'organization.domain.auto_joined',
          organizationId: verified.organizationId,
          actorUserId: userId,
          riskScore: role === 'admin' ? 40 : 10,
          details: { domainId: verified.domainId, domain, role, userId },
        },
      ]);
      return true;
    });
  }

  async #getWithin(tx: Tx, ctx: TenantContext, id: string): Promise<OrganizationDomain> {
    const row = await tx.maybeOne(
      sql.type(domainRow)`SELECT ${COLUMNS} FROM organization_domains WHERE id = ${id} AND organization_id = ${ctx.organizationId}`,
    );
    if (!row) throw new NotFoundError('organization domain', id);
    return row;
  }
}
