import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { DnsLookupError, NotFoundError } from '../../errors.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { AUTO_JOIN_ROLES, OrganizationDomainRepository } from '../../postgres/repositories/organization-domain-repository.js';
import type { AutoJoinRole, OrganizationDomain } from '../../postgres/repositories/organization-domain-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { withTimeout } from '../../with-timeout.js';

export { AUTO_JOIN_ROLES, domainChallengeRecordName, domainChallengeRecordValue } from '../../postgres/repositories/organization-domain-repository.js';
export type { AutoJoinRole, OrganizationDomain } from '../../postgres/repositories/organization-domain-repository.js';

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
 * event in the same transaction (in {@link OrganizationDomainRepository}).
 *
 * A verified domain must only come from `verifyDomain`'s own DNS check: this
 * flow is the only caller of the repository's `markVerified`.
 */
@injectable()
@accessControlled
export class OrganizationDomains {
  constructor(@inject(OrganizationDomainRepository) private readonly domains: OrganizationDomainRepository) {}

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
    return this.domains.create(ctx, d, token);
  }

  /** The current organization's domains, oldest first. */
  @declareAccess({ requires: 'settings:read' })
  async listDomains(ctx: TenantContext): Promise<readonly OrganizationDomain[]> {
    return this.domains.list(ctx);
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
    const id = parseInput(uuidInput, domainId, 'domainId');
    const current = await this.domains.get(ctx, id);
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
    return this.domains.markVerified(ctx, id);
  }

  /**
   * Turns auto-join on (with the role new members get) or off (`null`) for a verified domain.
   * @throws ValidationError naming `role` (`owner` is refused); NotFoundError; ConflictError when the domain is not verified
   */
  @declareAccess({ requires: 'settings:manage' })
  async setAutoJoin(ctx: TenantContext, domainId: string, role: AutoJoinRole | null): Promise<OrganizationDomain> {
    const id = parseInput(uuidInput, domainId, 'domainId');
    const r = parseInput(z.enum(AUTO_JOIN_ROLES).nullable(), role, 'role');
    return this.domains.setAutoJoin(ctx, id, r);
  }

  /**
   * Removes a domain claim (and with it verification and auto-join).
   * @returns false when the organization has no such domain
   */
  @declareAccess({ requires: 'settings:manage' })
  async removeDomain(ctx: TenantContext, domainId: string): Promise<boolean> {
    const id = parseInput(uuidInput, domainId, 'domainId');
    return this.domains.remove(ctx, id);
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
    const id = parseInput(uuidInput, userId, 'userId');
    const user = await this.domains.findJoinUser(id);
    if (!user || user.status === 'deleted') throw new NotFoundError('user', id);
    if (user.emailVerifiedAt === null) return { joined: false, reason: 'email_not_verified' };
    // A suspended or locked account gains no organization behind the operator's back.
    if (user.status !== 'active') return { joined: false, reason: 'account_not_active' };
    const domain = emailDomain(user.email);
    const verified = await this.domains.findVerified(domain);
    if (!verified) return { joined: false, reason: 'no_verified_domain' };
    const role = verified.autoJoinRole;
    if (role === null) return { joined: false, reason: 'auto_join_off' };
    const joined = await this.domains.autoJoin({ ...verified, autoJoinRole: role }, id, domain);
    if (!joined) return { joined: false, reason: 'already_member' };
    return { joined: true, organizationId: verified.organizationId, role };
  }
}
