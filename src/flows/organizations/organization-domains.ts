import { randomBytes } from 'node:crypto';
import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, DnsLookupError, NotFoundError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { PostgresConnection } from '../../postgres/postgres-connection.js';
import { AuditRepository } from '../../postgres/repositories/audit-repository.js';
import { withPostgresErrors } from '../../postgres/map-postgres-error.js';
import { withScope } from '../../postgres/with-scope.js';
import { withTenant } from '../../postgres/with-tenant.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { withTimeout } from '../../with-timeout.js';

/** The DNS name of the TXT record that proves control of `domain`. */
export const domainChallengeRecordName = (domain: string): string => `_platform-data-challenge.${domain}`;
/** The TXT value to publish (WorkOS's form: `verification_token=<token>`, workos.com/docs/domain-verification/api). */
export const domainChallengeRecordValue = (token: string): string => `verification_token=${token}`;

/**
 * Mailbox providers nobody can prove to own: an organization claiming one would capture strangers
 * (WorkOS refuses "common consumer domains, like gmail.com", workos.com/docs/reference/domain-verification).
 */
export const CONSUMER_EMAIL_DOMAINS: ReadonlySet<string> = new Set([
  'gmail.com',
  'googlemail.com',
  'outlook.com',
  'hotmail.com',
  'live.com',
  'msn.com',
  'yahoo.com',
  'ymail.com',
  'icloud.com',
  'me.com',
  'mac.com',
  'aol.com',
  'proton.me',
  'protonmail.com',
  'gmx.com',
  'gmx.de',
  'web.de',
  'mail.com',
  'yandex.com',
  'yandex.ru',
  'mail.ru',
  'qq.com',
  '163.com',
  '126.com',
  'zoho.com',
  'fastmail.com',
  'hey.com',
  'tutanota.com',
]);

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

/** The application's DNS lookup: the TXT strings at `name` (node:dns/promises `resolveTxt`, joined per record, fits). */
export type TxtLookup = (name: string) => Promise<readonly string[]>;

/** What `joinByVerifiedDomain` did. */
export type DomainJoinResult =
  | { readonly joined: true; readonly organizationId: string; readonly role: AutoJoinRole }
  | { readonly joined: false; readonly reason: 'no_verified_domain' | 'auto_join_off' | 'email_not_verified' | 'account_not_active' | 'already_member' };

/** How long the application's DNS lookup may take before `verifyDomain` gives up. */
export const DNS_LOOKUP_TIMEOUT_MS = 10_000;

/** A DNS name, lowercased; trailing dot dropped (RFC 1035 §2.3.1 labels, RFC 1123 §2.1 leading digits). */
export const domainInput = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .transform((d) => d.replace(/\.$/, ''))
  .pipe(
    z
      .string()
      .regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/, 'must be a domain name such as example.com')
      .max(253),
  );

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
const verifiedRow = z.object({ organization_id: z.uuid(), domain_id: z.uuid(), auto_join_role: z.enum(AUTO_JOIN_ROLES).nullable() });
const userRow = z.object({ email: z.string(), email_verified_at: z.date().nullable(), status: z.string() });

/** The domain part of an email address, lowercased (the local part is never used). */
export function emailDomain(email: string): string {
  const at = email.lastIndexOf('@');
  return email
    .slice(at + 1)
    .trim()
    .toLowerCase();
}

/**
 * Organization domains: claims, verification by a DNS TXT record (the lookup
 * is the application's callback, bounded by {@link DNS_LOOKUP_TIMEOUT_MS}),
 * and the auto-join policy of verified domains. Every change writes its audit
 * event in the same transaction.
 *
 * Why the statements live in this flow rather than a repository: a verified
 * domain must only come from `verifyDomain`'s own DNS check — a repository
 * method "mark verified" would let any settings manager skip it.
 */
@injectable()
@accessControlled
export class OrganizationDomains {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly auditLog: AuditRepository,
  ) {}

  /**
   * Claims a domain for the current organization, with a new random challenge.
   * @throws ValidationError naming `domain` (malformed, or a consumer mailbox domain)
   * @throws ConflictError (`organization_domains_claim_key`) when the organization already claimed it
   */
  @declareAccess({ requires: 'settings:manage' })
  async addDomain(ctx: TenantContext, domain: string): Promise<OrganizationDomain> {
    const d = parseInput(
      domainInput.refine((v) => !CONSUMER_EMAIL_DOMAINS.has(v), 'is a public mailbox provider; it cannot belong to an organization'),
      domain,
      'domain',
    );
    const token = randomBytes(24).toString('base64url');
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const row = await tx.one(sql.type(domainRow)`
        INSERT INTO organization_domains (organization_id, domain, verification_token)
        VALUES (${ctx.organizationId}, ${d}, ${token}) RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, [
        { eventType: 'organization.domain.added', organizationId: ctx.organizationId, actorUserId: ctx.userId, details: { domainId: row.id, domain: d } },
      ]);
      return row;
    });
  }

  /** The current organization's domains, oldest first. */
  @declareAccess({ requires: 'settings:read' })
  async listDomains(ctx: TenantContext): Promise<readonly OrganizationDomain[]> {
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(domainRow)`SELECT ${COLUMNS} FROM organization_domains WHERE organization_id = ${ctx.organizationId} ORDER BY created_at, id`),
    );
  }

  /**
   * Looks the challenge up through `lookupTxt` and marks the domain verified when a TXT string equals it.
   * A domain stays verified until removed (re-check it with this method when your policy wants).
   * @returns the domain; `verifiedAt` is null when the record was not found
   * @throws NotFoundError for a domain of another (or no) organization
   * @throws ConflictError (`organization_domains_verified_key`) when another organization verified it first
   * @throws DnsLookupError when the lookup fails or exceeds {@link DNS_LOOKUP_TIMEOUT_MS}
   */
  @declareAccess({ requires: 'settings:manage' })
  async verifyDomain(ctx: TenantContext, domainId: string, lookupTxt: TxtLookup): Promise<OrganizationDomain> {
    const id = parseInput(z.uuid(), domainId, 'domainId');
    const current = await this.#get(ctx, id);
    if (current.verifiedAt !== null) return current;
    let records: readonly string[];
    try {
      records = await withTimeout(
        Promise.resolve().then(() => lookupTxt(current.challenge.name)),
        DNS_LOOKUP_TIMEOUT_MS,
        () => new Error(`DNS lookup exceeded ${DNS_LOOKUP_TIMEOUT_MS} ms`),
      );
    } catch (error) {
      throw new DnsLookupError(current.challenge.name, { cause: error });
    }
    const found = Array.isArray(records) && records.some((r) => typeof r === 'string' && r.trim() === current.challenge.value);
    if (!found) return current;
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const row = await tx.maybeOne(sql.type(domainRow)`
        UPDATE organization_domains SET verified_at = now()
        WHERE id = ${id} AND organization_id = ${ctx.organizationId} AND verified_at IS NULL RETURNING ${COLUMNS}`);
      if (!row) return this.#getWithin(tx, ctx, id);
      await this.auditLog.appendWithin(tx, [
        {
          eventType: 'organization.domain.verified',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          riskScore: 20,
          details: { domainId: id, domain: row.domain },
        },
      ]);
      return row;
    });
  }

  /**
   * Turns auto-join on (with the role new members get) or off (`null`) for a verified domain.
   * @throws ValidationError naming `role` (`owner` is refused); NotFoundError; ConflictError when the domain is not verified
   */
  @declareAccess({ requires: 'settings:manage' })
  async setAutoJoin(ctx: TenantContext, domainId: string, role: AutoJoinRole | null): Promise<OrganizationDomain> {
    const id = parseInput(z.uuid(), domainId, 'domainId');
    const r = parseInput(z.enum(AUTO_JOIN_ROLES).nullable(), role, 'role');
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const before = await this.#getWithin(tx, ctx, id);
      if (before.verifiedAt === null)
        throw new ConflictError('Auto-join needs a verified domain', { store: 'postgres', constraint: 'organization_domains_auto_join_check' });
      const row = await tx.one(sql.type(domainRow)`
        UPDATE organization_domains SET auto_join_role = ${r}::membership_role WHERE id = ${id} RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, [
        {
          eventType: 'organization.domain.auto_join_changed',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          riskScore: r === 'admin' ? 40 : 10,
          details: { domainId: id, domain: row.domain, from: before.autoJoinRole, to: r },
        },
      ]);
      return row;
    });
  }

  /**
   * Removes a domain claim (and with it verification and auto-join).
   * @returns false when the organization has no such domain
   */
  @declareAccess({ requires: 'settings:manage' })
  async removeDomain(ctx: TenantContext, domainId: string): Promise<boolean> {
    const id = parseInput(z.uuid(), domainId, 'domainId');
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const removed = await tx.maybeOneFirst(sql.type(z.object({ domain: z.string() }))`
        DELETE FROM organization_domains WHERE id = ${id} AND organization_id = ${ctx.organizationId} RETURNING domain`);
      if (removed === null) return false;
      await this.auditLog.appendWithin(tx, [
        { eventType: 'organization.domain.removed', organizationId: ctx.organizationId, actorUserId: ctx.userId, details: { domainId: id, domain: removed } },
      ]);
      return true;
    });
  }

  /**
   * Joins a user to the organization that verified their email's domain, if
   * that domain has auto-join on and the user's email is verified (an
   * unverified address proves nothing — Keycloak and WorkOS match verified
   * emails only). Call it after sign-up or sign-in. Audited as
   * `organization.domain.auto_joined` in the membership's transaction.
   * @throws ValidationError naming `userId`; NotFoundError for an unknown user
   */
  @declareAccess({ preTenant: 'sign-in: the authenticated user joins the organization that verified their email domain' })
  async joinByVerifiedDomain(userId: string): Promise<DomainJoinResult> {
    const id = parseInput(z.uuid(), userId, 'userId');
    const user = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(
        sql.type(userRow)`SELECT email::text AS email, email_verified_at, status::text AS status FROM platform_auth.user_by_id(${id})`,
      ),
    );
    if (!user || user.status === 'deleted') throw new NotFoundError('user', id);
    if (user.email_verified_at === null) return { joined: false, reason: 'email_not_verified' };
    // A suspended or locked account gains no organization behind the operator's back.
    if (user.status !== 'active') return { joined: false, reason: 'account_not_active' };
    const domain = emailDomain(user.email);
    const verified = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(verifiedRow)`SELECT organization_id, domain_id, auto_join_role FROM platform_auth.verified_domain(${domain})`),
    );
    if (!verified) return { joined: false, reason: 'no_verified_domain' };
    const role = verified.auto_join_role;
    if (role === null) return { joined: false, reason: 'auto_join_off' };
    return withScope(this.postgres.appPool, { organizationId: verified.organization_id, userId: id }, async (tx) => {
      const inserted = await tx.maybeOneFirst(sql.type(z.object({ user_id: z.uuid() }))`
        INSERT INTO memberships (organization_id, user_id, role) VALUES (${verified.organization_id}, ${id}, ${role}::membership_role)
        ON CONFLICT DO NOTHING RETURNING user_id`);
      if (inserted === null) return { joined: false, reason: 'already_member' } as const;
      await this.auditLog.appendWithin(tx, [
        {
          eventType: 'organization.domain.auto_joined',
          organizationId: verified.organization_id,
          actorUserId: id,
          riskScore: role === 'admin' ? 40 : 10,
          details: { domainId: verified.domain_id, domain, role, userId: id },
        },
      ]);
      return { joined: true, organizationId: verified.organization_id, role } as const;
    });
  }

  async #get(ctx: TenantContext, id: string): Promise<OrganizationDomain> {
    return withTenant(this.postgres.appPool, ctx, (tx) => this.#getWithin(tx, ctx, id));
  }

  async #getWithin(tx: Parameters<Parameters<typeof withTenant>[2]>[0], ctx: TenantContext, id: string): Promise<OrganizationDomain> {
    const row = await tx.maybeOne(
      sql.type(domainRow)`SELECT ${COLUMNS} FROM organization_domains WHERE id = ${id} AND organization_id = ${ctx.organizationId}`,
    );
    if (!row) throw new NotFoundError('organization domain', id);
    return row;
  }
}
