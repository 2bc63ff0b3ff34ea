import 'reflect-metadata';
import { describe, expect } from 'vitest';
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
import { type FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

/**
 * The cases of issue 15 "What was seen", each as it was tried through the
 * public API; every one of these succeeded on the code before the
 * authorization layer.
 */
describe.skipIf(!requireStores('postgres', 'redis'))('observed authorization cases', () => {
  let owner: TenantContext;
  const denied = async (call: Promise<unknown>, permission: string) => {
    const error = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TenantAccessError);
    expect(error).toMatchObject({ permission });
  };
  const repo = <T>(h: FlowHarness, cls: new (...args: never[]) => T): T => h.platform.resolve(cls as never);

  /** A signed-up user who accepted an invitation into the owner's organization with `role`. */
  async function member(h: FlowHarness, role: MembershipRole): Promise<TenantContext> {
    const u = await h.user();
    const { token } = await repo(h, MembershipRepository).add(owner, { userId: u.userId, role });
    await repo(h, MembershipRepository).acceptInvitation(token);
    return createTenantContext({ organizationId: owner.organizationId, userId: u.userId, role });
  }

  test.beforeAll(async ({ flow: h }) => {
    const u = await h.user();
    owner = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
  });

  test('1. a viewer cannot do what only owners and admins may; nothing changes', async ({ flow: h }) => {
    const viewer = await member(h, 'viewer');
    const ownersKey = await repo(h, ApiKeyRepository).create(owner, { name: 'owner key' });
    const settingsBefore = await repo(h, SecuritySettingsRepository).get(owner);
    const orgBefore = await repo(h, OrganizationRepository).getCurrent(owner);

    await denied(repo(h, SecuritySettingsRepository).update(viewer, { ipAllowList: ['203.0.113.0/24'], mfaRequired: true }), 'settings:manage');
    await denied(repo(h, OrganizationRepository).addCredits(viewer, 1_000_000_000), 'billing:manage');
    await denied(repo(h, OrganizationRepository).update(viewer, { tier: 'enterprise', settings: { x: 1 } } as never), 'organization:write');
    await denied(repo(h, AuditRepository).query(viewer), 'audit:read');
    await denied(repo(h, ApiKeyRepository).list(viewer), 'api_keys:manage');
    await denied(repo(h, ApiKeyRepository).revoke(viewer, ownersKey.apiKey.id), 'api_keys:manage');
    await denied(repo(h, OrganizationRepository).softDelete(viewer), 'organization:delete');

    expect(await repo(h, SecuritySettingsRepository).get(owner)).toEqual(settingsBefore);
    expect(await repo(h, OrganizationRepository).getCurrent(owner)).toMatchObject({
      credits: orgBefore.credits,
      tier: orgBefore.tier,
      deletedAt: orgBefore.deletedAt,
    });
    expect((await repo(h, ApiKeyRepository).get(owner, ownersKey.apiKey.id)).revokedAt).toBeNull();
  });

  test('2. API keys never widen rights: no key for a viewer, no wider or unscoped key minted by a key, no self-widening', async ({ flow: h }) => {
    const viewer = await member(h, 'viewer');
    await denied(repo(h, ApiKeyRepository).create(viewer, { name: 'mine' }), 'api_keys:manage');

    const developer = await member(h, 'developer');
    await denied(repo(h, ApiKeyRepository).create(developer, { name: 'wide', scopes: ['members:manage'] }), 'members:manage');
    const narrow = await repo(h, ApiKeyRepository).create(developer, { name: 'reader', scopes: ['knowledge:read'] });
    const asNarrow = (await repo(h, ApiKeyAuthenticator).authenticate(narrow.key)).context;
    expect(asNarrow).toMatchObject({ role: 'developer', actor: { kind: 'apiKey', keyId: narrow.apiKey.id } });
    await denied(repo(h, ApiKeyRepository).create(asNarrow, { name: 'unscoped' }), 'api_keys:manage');
    await denied(
      repo(h, ApiKeyRepository).update(asNarrow, narrow.apiKey.id, { scopes: ['knowledge:*', 'api_keys:*'], rateLimitPerMinute: 1_000_000 }),
      'api_keys:manage',
    );

    // A key that may manage keys still hands out no more than it holds.
    const manager = await repo(h, ApiKeyRepository).create(developer, {
      name: 'rotator',
      scopes: ['api_keys:manage', 'knowledge:read'],
      rateLimitPerMinute: 100,
    });
    const asManager = (await repo(h, ApiKeyAuthenticator).authenticate(manager.key)).context;
    // Unscoped would reach every permission of the creator's role; the first one out of the key's reach is named.
    await denied(repo(h, ApiKeyRepository).create(asManager, { name: 'unscoped' }), 'organization:read');
    await denied(repo(h, ApiKeyRepository).create(asManager, { name: 'writer', scopes: ['knowledge:write'] }), 'knowledge:write');
    await denied(
      repo(h, ApiKeyRepository).create(asManager, { name: 'fast', scopes: ['knowledge:read'], rateLimitPerMinute: 1_000_000 }),
      'api_keys:rate_limit',
    );
    await denied(repo(h, ApiKeyRepository).update(asManager, manager.apiKey.id, { rateLimitPerMinute: 1_000_000 }), 'api_keys:rate_limit');
    const child = await repo(h, ApiKeyRepository).create(asManager, { name: 'child', scopes: ['knowledge:read'], rateLimitPerMinute: 50 });
    expect(child.apiKey.scopes).toEqual(['knowledge:read']);

    // The key follows its creator's CURRENT role: demoted to viewer, the key reads but no longer manages keys.
    await repo(h, MembershipRepository).changeRole(owner, developer.userId, 'viewer');
    const demoted = (await repo(h, ApiKeyAuthenticator).authenticate(manager.key)).context;
    expect(demoted.role).toBe('viewer');
    await denied(repo(h, ApiKeyRepository).list(demoted), 'api_keys:manage');
  });

  test('3. a key stops working when its creator is removed from the organization or suspended', async ({ flow: h }) => {
    const removed = await member(h, 'developer');
    const removedKey = await repo(h, ApiKeyRepository).create(removed, { name: 'ci' });
    await repo(h, ApiKeyAuthenticator).authenticate(removedKey.key);
    await repo(h, MembershipRepository).remove(owner, removed.userId);
    await expect(repo(h, ApiKeyAuthenticator).authenticate(removedKey.key)).rejects.toMatchObject({ reason: 'revoked' });

    const suspended = await member(h, 'developer');
    const suspendedKey = await repo(h, ApiKeyRepository).create(suspended, { name: 'ci' });
    await h.revoker.suspendUser(suspended.userId, 'observed case 3');
    const error = await repo(h, ApiKeyAuthenticator)
      .authenticate(suspendedKey.key)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenError);
    expect(error).toMatchObject({ reason: 'revoked' });
  });

  test('6. adding an existing user is an invitation: until they accept, the organization sees nothing of them and its policy does not bind them', async ({
    flow: h,
  }) => {
    const victim = await h.user();
    const policyBefore = await repo(h, StrictestPasswordPolicy).forUser(victim.userId);
    // The inviter's policy: exactly 72 characters (bcrypt's limit) — it must not become the victim's.
    await repo(h, SecuritySettingsRepository).update(owner, { passwordMinLength: 72 });
    const { invitation, token } = await repo(h, MembershipRepository).add(owner, { userId: victim.userId, role: 'member' });
    expect(invitation).toMatchObject({ userId: victim.userId, role: 'member', answer: null });

    expect(await repo(h, MembershipRepository).get(owner, victim.userId)).toBeUndefined();
    expect((await repo(h, UserRepository).listForOrganization(owner)).items.map((u) => u.id)).not.toContain(victim.userId);
    expect(await repo(h, StrictestPasswordPolicy).forUser(victim.userId)).toEqual(policyBefore);

    await repo(h, MembershipRepository).declineInvitation(token);
    await expect(repo(h, MembershipRepository).acceptInvitation(token)).rejects.toMatchObject({ reason: 'consumed' });
    expect(await repo(h, MembershipRepository).get(owner, victim.userId)).toBeUndefined();

    // With consent, the membership exists and the policy applies; every answer is audited.
    const again = await repo(h, MembershipRepository).add(owner, { userId: victim.userId, role: 'viewer' });
    expect(await repo(h, MembershipRepository).acceptInvitation(again.token)).toMatchObject({ userId: victim.userId, role: 'viewer' });
    expect((await repo(h, StrictestPasswordPolicy).forUser(victim.userId)).options.minLength).toBe(72);
    const ids = [invitation.id, again.invitation.id];
    const events = (
      await repo(h, AuditRepository).query(
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
    await repo(h, SecuritySettingsRepository).update(owner, { passwordMinLength: 12 });
  });
});
