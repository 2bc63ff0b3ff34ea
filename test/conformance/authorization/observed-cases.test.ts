import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantAccessError, TokenError } from '../../../src/errors.js';
import { ApiKeyAuthenticator } from '../../../src/flows/auth/api-key-authenticator.js';
import { StrictestPasswordPolicy } from '../../../src/flows/auth/strictest-password-policy.js';
import { ApiKeyRepository } from '../../../src/postgres/repositories/api-key-repository.js';
import { AuditRepository } from '../../../src/postgres/repositories/audit-repository.js';
import { MembershipRepository } from '../../../src/postgres/repositories/membership-repository.js';
import { OrganizationRepository } from '../../../src/postgres/repositories/organization-repository.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import type { MembershipRole } from '../../../src/tenancy/membership-role.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { startFlowHarness, type FlowHarness } from '../../integration/flows/flow-test-platform.js';
import { requireStores } from '../../support/require-stores.js';

/**
 * The cases of issue 15 "What was seen", each as it was tried through the
 * public API; every one of these succeeded on the code before the
 * authorization layer.
 */
describe.skipIf(!requireStores('postgres', 'redis'))('observed authorization cases', () => {
  let h: FlowHarness;
  let owner: TenantContext;
  const denied = async (call: Promise<unknown>, permission: string) => {
    const error = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TenantAccessError);
    expect(error).toMatchObject({ permission });
  };
  const repo = <T>(cls: new (...args: never[]) => T): T => h.platform.resolve(cls as never);

  /** A signed-up user who accepted an invitation into the owner's organization with `role`. */
  async function member(role: MembershipRole): Promise<TenantContext> {
    const u = await h.user();
    const { token } = await repo(MembershipRepository).add(owner, { userId: u.userId, role });
    await repo(MembershipRepository).acceptInvitation(token);
    return createTenantContext({ organizationId: owner.organizationId, userId: u.userId, role });
  }

  beforeAll(async () => {
    h = await startFlowHarness();
    const u = await h.user();
    owner = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
  });
  afterAll(async () => h?.stop());

  it('1. a viewer cannot do what only owners and admins may; nothing changes', async () => {
    const viewer = await member('viewer');
    const ownersKey = await repo(ApiKeyRepository).create(owner, { name: 'owner key' });
    const settingsBefore = await repo(SecuritySettingsRepository).get(owner);
    const orgBefore = await repo(OrganizationRepository).getCurrent(owner);

    await denied(repo(SecuritySettingsRepository).update(viewer, { ipAllowList: ['203.0.113.0/24'], mfaRequired: true }), 'settings:manage');
    await denied(repo(OrganizationRepository).addCredits(viewer, 1_000_000_000), 'billing:manage');
    await denied(repo(OrganizationRepository).update(viewer, { tier: 'enterprise', settings: { x: 1 } } as never), 'organization:write');
    await denied(repo(AuditRepository).query(viewer), 'audit:read');
    await denied(repo(ApiKeyRepository).list(viewer), 'api_keys:manage');
    await denied(repo(ApiKeyRepository).revoke(viewer, ownersKey.apiKey.id), 'api_keys:manage');
    await denied(repo(OrganizationRepository).softDelete(viewer), 'organization:delete');

    expect(await repo(SecuritySettingsRepository).get(owner)).toEqual(settingsBefore);
    expect(await repo(OrganizationRepository).getCurrent(owner)).toMatchObject({
      credits: orgBefore.credits,
      tier: orgBefore.tier,
      deletedAt: orgBefore.deletedAt,
    });
    expect((await repo(ApiKeyRepository).get(owner, ownersKey.apiKey.id)).revokedAt).toBeNull();
  });

  it('2. API keys never widen rights: no key for a viewer, no wider or unscoped key minted by a key, no self-widening', async () => {
    const viewer = await member('viewer');
    await denied(repo(ApiKeyRepository).create(viewer, { name: 'mine' }), 'api_keys:manage');

    const developer = await member('developer');
    await denied(repo(ApiKeyRepository).create(developer, { name: 'wide', scopes: ['members:manage'] }), 'members:manage');
    const narrow = await repo(ApiKeyRepository).create(developer, { name: 'reader', scopes: ['knowledge:read'] });
    const asNarrow = (await repo(ApiKeyAuthenticator).authenticate(narrow.key)).context;
    expect(asNarrow).toMatchObject({ role: 'developer', actor: { kind: 'apiKey', keyId: narrow.apiKey.id } });
    await denied(repo(ApiKeyRepository).create(asNarrow, { name: 'unscoped' }), 'api_keys:manage');
    await denied(
      repo(ApiKeyRepository).update(asNarrow, narrow.apiKey.id, { scopes: ['knowledge:*', 'api_keys:*'], rateLimitPerMinute: 1_000_000 }),
      'api_keys:manage',
    );

    // A key that may manage keys still hands out no more than it holds.
    const manager = await repo(ApiKeyRepository).create(developer, { name: 'rotator', scopes: ['api_keys:manage', 'knowledge:read'], rateLimitPerMinute: 100 });
    const asManager = (await repo(ApiKeyAuthenticator).authenticate(manager.key)).context;
    // Unscoped would reach every permission of the creator's role; the first one out of the key's reach is named.
    await denied(repo(ApiKeyRepository).create(asManager, { name: 'unscoped' }), 'organization:read');
    await denied(repo(ApiKeyRepository).create(asManager, { name: 'writer', scopes: ['knowledge:write'] }), 'knowledge:write');
    await denied(repo(ApiKeyRepository).create(asManager, { name: 'fast', scopes: ['knowledge:read'], rateLimitPerMinute: 1_000_000 }), 'api_keys:rate_limit');
    await denied(repo(ApiKeyRepository).update(asManager, manager.apiKey.id, { rateLimitPerMinute: 1_000_000 }), 'api_keys:rate_limit');
    const child = await repo(ApiKeyRepository).create(asManager, { name: 'child', scopes: ['knowledge:read'], rateLimitPerMinute: 50 });
    expect(child.apiKey.scopes).toEqual(['knowledge:read']);

    // The key follows its creator's CURRENT role: demoted to viewer, the key reads but no longer manages keys.
    await repo(MembershipRepository).changeRole(owner, developer.userId, 'viewer');
    const demoted = (await repo(ApiKeyAuthenticator).authenticate(manager.key)).context;
    expect(demoted.role).toBe('viewer');
    await denied(repo(ApiKeyRepository).list(demoted), 'api_keys:manage');
  });

  it('3. a key stops working when its creator is removed from the organization or suspended', async () => {
    const removed = await member('developer');
    const removedKey = await repo(ApiKeyRepository).create(removed, { name: 'ci' });
    await repo(ApiKeyAuthenticator).authenticate(removedKey.key);
    await repo(MembershipRepository).remove(owner, removed.userId);
    await expect(repo(ApiKeyAuthenticator).authenticate(removedKey.key)).rejects.toMatchObject({ reason: 'revoked' });

    const suspended = await member('developer');
    const suspendedKey = await repo(ApiKeyRepository).create(suspended, { name: 'ci' });
    await h.revoker.suspendUser(suspended.userId, 'observed case 3');
    const error = await repo(ApiKeyAuthenticator)
      .authenticate(suspendedKey.key)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenError);
    expect(error).toMatchObject({ reason: 'revoked' });
  });

  it('6. adding an existing user is an invitation: until they accept, the organization sees nothing of them and its policy does not bind them', async () => {
    const victim = await h.user();
    const policyBefore = await repo(StrictestPasswordPolicy).forUser(victim.userId);
    // The inviter's policy: exactly 72 characters (bcrypt's limit) — it must not become the victim's.
    await repo(SecuritySettingsRepository).update(owner, { passwordMinLength: 72 });
    const { invitation, token } = await repo(MembershipRepository).add(owner, { userId: victim.userId, role: 'member' });
    expect(invitation).toMatchObject({ userId: victim.userId, role: 'member', answer: null });

    expect(await repo(MembershipRepository).get(owner, victim.userId)).toBeUndefined();
    expect((await repo(UserRepository).listForOrganization(owner)).items.map((u) => u.id)).not.toContain(victim.userId);
    expect(await repo(StrictestPasswordPolicy).forUser(victim.userId)).toEqual(policyBefore);

    await repo(MembershipRepository).declineInvitation(token);
    await expect(repo(MembershipRepository).acceptInvitation(token)).rejects.toMatchObject({ reason: 'consumed' });
    expect(await repo(MembershipRepository).get(owner, victim.userId)).toBeUndefined();

    // With consent, the membership exists and the policy applies; every answer is audited.
    const again = await repo(MembershipRepository).add(owner, { userId: victim.userId, role: 'viewer' });
    expect(await repo(MembershipRepository).acceptInvitation(again.token)).toMatchObject({ userId: victim.userId, role: 'viewer' });
    expect((await repo(StrictestPasswordPolicy).forUser(victim.userId)).options.minLength).toBe(72);
    const ids = [invitation.id, again.invitation.id];
    const events = (
      await repo(AuditRepository).query(
        owner,
        { eventTypes: ['membership.invited', 'membership.invitation_declined', 'membership.invitation_accepted'] },
        { limit: 100 },
      )
    ).items;
    expect(
      events
        .filter((e) => ids.includes(String(e.details.invitationId)))
        .map((e) => e.eventType)
        .sort(),
    ).toEqual(['membership.invitation_accepted', 'membership.invitation_declined', 'membership.invited', 'membership.invited']);
    await repo(SecuritySettingsRepository).update(owner, { passwordMinLength: 12 });
  });
});
