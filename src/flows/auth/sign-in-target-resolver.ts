import { inject, injectable } from 'tsyringe';
import { TenantAccessError } from '../../errors.js';
import { AccountRepository, type AccountMembership } from '../../postgres/repositories/account-repository.js';
import type { SecuritySettings } from '../../postgres/repositories/security-settings-repository.js';
import type { UserRecord } from '../../postgres/repositories/user-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { OrganizationSecurity } from '../organizations/organization-security.js';
import type { ParsedClientContext } from './client-context.js';

/**
 * Where a sign-in lands: the membership chosen, every membership, and that
 * organization's security settings (already checked against the client's IP).
 */
export interface SignInTarget {
  readonly membership: AccountMembership;
  readonly memberships: readonly AccountMembership[];
  readonly settings: SecuritySettings;
}

/**
 * The organization a sign-in acts in and the rules of it that do not depend on
 * the second factor. Read before any session is written; `SessionIssuer.resolveTarget`
 * is the entry point the sign-in flows call.
 */
@injectable()
@accessControlled
export class SignInTargetResolver {
  constructor(
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(OrganizationSecurity) private readonly security: OrganizationSecurity,
  ) {}

  /**
   * Picks the organization and applies its sign-in rules that do not depend
   * on the second factor: membership, then the IP allow-list (read fresh from
   * Postgres, so a tightened list applies to the next sign-in).
   * @param organizationId the organization to act in; default the user's oldest membership
   * @throws TenantAccessError when the user belongs to no (such) organization, or (`permission: 'ip_allow_list'`)
   *   when the client's IP is outside the organization's allow-list (audited, risk 80)
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async resolveTarget(user: UserRecord, client: ParsedClientContext, organizationId?: string, via: 'login' | 'mfa' = 'login'): Promise<SignInTarget> {
    const memberships = await this.accounts.listMemberships(user.id);
    const membership = organizationId === undefined ? memberships[0] : memberships.find((m) => m.organizationId === organizationId);
    if (!membership) {
      throw new TenantAccessError(organizationId === undefined ? 'The user belongs to no organization' : 'The user is not a member of that organization', {
        permission: 'organization:read',
      });
    }
    const settings = await this.security.current(membership.organizationId);
    await this.security.assertIpAllowed(settings, {
      organizationId: membership.organizationId,
      ip: client.ip,
      userAgent: client.userAgent,
      actorUserId: user.id,
      via,
    });
    return { membership, memberships, settings };
  }
}
