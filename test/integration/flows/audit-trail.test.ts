import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { ConflictError } from '../../../src/errors.js';
import { AuditRepository, type AuditRecord } from '../../../src/postgres/repositories/audit-repository.js';
import { ApiKeyRepository } from '../../../src/postgres/repositories/api-key-repository.js';
import { MembershipRepository } from '../../../src/postgres/repositories/membership-repository.js';
import { OrganizationRepository } from '../../../src/postgres/repositories/organization-repository.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { test } from '../../support/fixtures.js';

// Audit trail completeness (issue 20; OWASP ASVS 4.0.3 V7.2.2 "all authentication decisions are logged" and
// V7.1.3 "security relevant events", OWASP Logging Cheat Sheet "which events to log": permission and role
// changes, API-key lifecycle, security configuration changes). Each event is written in the transaction of
// the change, so it reads back at once — no writer flush — and a refused change writes none.

describe('audit trail of security-relevant changes', () => {
  let owner: TenantContext;
  let audit: AuditRepository;

  /** Events of the organization of `ctx` of these types, oldest first — read without flushing the batching writer. */
  const events = async (ctx: TenantContext, ...types: string[]): Promise<AuditRecord[]> =>
    [...(await audit.query(ctx, { eventTypes: types }, { limit: 100 })).items].reverse();

  test.beforeAll(async ({ flow: h }) => {
    audit = h.platform.resolve(AuditRepository);
    const { userId, organizationId } = await h.user();
    owner = createTenantContext({ organizationId, userId, role: 'owner' });
  }, 60_000);

  test('API keys: created, updated and revoked (once, however often revoke is repeated); the secret is never in the event', async ({ flow: h }) => {
    const keys = h.platform.resolve(ApiKeyRepository);
    const { key, apiKey } = await keys.create(owner, { name: 'ci', scopes: ['knowledge:read'] });
    await keys.update(owner, apiKey.id, { scopes: ['knowledge:read', 'knowledge:write'] });
    await keys.revoke(owner, apiKey.id);
    await keys.revoke(owner, apiKey.id);
    const trail = await events(owner, 'api_key.created', 'api_key.updated', 'api_key.revoked');
    expect(trail.map((e) => e.eventType)).toEqual(['api_key.created', 'api_key.updated', 'api_key.revoked']);
    expect(trail[0]).toMatchObject({
      actorUserId: owner.userId,
      organizationId: owner.organizationId,
      details: { keyId: apiKey.id, name: 'ci', scopes: ['knowledge:read'], via: 'user' },
    });
    expect(trail[1]).toMatchObject({ details: { keyId: apiKey.id, changed: ['scopes'], scopes: ['knowledge:read', 'knowledge:write'] } });
    expect(trail[2]).toMatchObject({ details: { keyId: apiKey.id } });
    expect(JSON.stringify(trail)).not.toContain(key.split('_').at(-1));
  });

  test('an API key acting is named in the event (via apiKey, its id), with its creator as the actor', async ({ flow: h }) => {
    const keys = h.platform.resolve(ApiKeyRepository);
    const { apiKey } = await keys.create(owner, { name: 'automation', scopes: ['api_keys:manage'] });
    const asKey = createTenantContext({
      organizationId: owner.organizationId,
      userId: owner.userId,
      role: 'owner',
      actor: { kind: 'apiKey', keyId: apiKey.id, creatorUserId: owner.userId, scopes: ['api_keys:manage'] },
    });
    const { apiKey: child } = await keys.create(asKey, { name: 'child', scopes: [] });
    const [created] = (await events(owner, 'api_key.created')).filter((e) => e.details.keyId === child.id);
    expect(created).toMatchObject({ actorUserId: owner.userId, details: { via: 'apiKey', apiKeyId: apiKey.id } });
  });

  test('memberships: invited, accepted, role changed, removed, left; declined and revoked invitations; a refused change writes nothing', async ({
    flow: h,
  }) => {
    const members = h.platform.resolve(MembershipRepository);
    const alice = await h.user();
    const bob = await h.user();
    const carol = await h.user();
    const dave = await h.user();
    const invited = await members.add(owner, { userId: alice.userId, role: 'member' });
    await members.acceptInvitation(invited.token);
    await members.changeRole(owner, alice.userId, 'admin');
    await members.changeRole(owner, alice.userId, 'admin'); // no change, no event
    await members.remove(owner, alice.userId);
    const declined = await members.add(owner, { userId: bob.userId });
    await members.declineInvitation(declined.token);
    const revoked = await members.add(owner, { userId: carol.userId });
    expect(await members.revokeInvitation(owner, revoked.invitation.id)).toBe(true);
    const joined = await members.add(owner, { userId: dave.userId, role: 'viewer' });
    await members.acceptInvitation(joined.token);
    const daveCtx = createTenantContext({ organizationId: owner.organizationId, userId: dave.userId, role: 'viewer' });
    await members.remove(daveCtx, dave.userId);
    // The last owner cannot be demoted: refused by the database, and no event survives the rollback.
    await expect(members.changeRole(owner, owner.userId, 'member')).rejects.toBeInstanceOf(ConflictError);

    const trail = await events(
      owner,
      'membership.invited',
      'membership.invitation_accepted',
      'membership.invitation_declined',
      'membership.invitation_revoked',
      'membership.role_changed',
      'membership.removed',
      'membership.left',
    );
    expect(trail.map((e) => [e.eventType, e.details.targetUserId ?? e.actorUserId])).toEqual([
      ['membership.invited', alice.userId],
      ['membership.invitation_accepted', alice.userId],
      ['membership.role_changed', alice.userId],
      ['membership.removed', alice.userId],
      ['membership.invited', bob.userId],
      ['membership.invitation_declined', bob.userId],
      ['membership.invited', carol.userId],
      ['membership.invitation_revoked', carol.userId],
      ['membership.invited', dave.userId],
      ['membership.invitation_accepted', dave.userId],
      ['membership.left', dave.userId],
    ]);
    expect(trail.find((e) => e.eventType === 'membership.role_changed')).toMatchObject({ actorUserId: owner.userId, details: { from: 'member', to: 'admin' } });
    expect(trail.find((e) => e.eventType === 'membership.removed')).toMatchObject({ actorUserId: owner.userId, details: { role: 'admin' } });
  });

  test('security settings: each change with before and after; an update that changes nothing writes nothing', async ({ flow: h }) => {
    const settings = h.platform.resolve(SecuritySettingsRepository);
    await settings.update(owner, { mfaRequired: true, passwordMinLength: 14 });
    await settings.update(owner, { mfaRequired: true });
    await settings.update(owner, { ipAllowList: ['203.0.113.0/24'] });
    const trail = await events(owner, 'organization.security_settings_changed');
    expect(trail.map((e) => e.details.changes)).toEqual([
      { mfaRequired: { from: false, to: true }, passwordMinLength: { from: 12, to: 14 } },
      { ipAllowList: { from: [], to: ['203.0.113.0/24'] } },
    ]);
    expect(trail[0]).toMatchObject({ actorUserId: owner.userId, riskScore: 30 });
  });

  test('organization deletion is recorded once', async ({ flow: h }) => {
    const { userId, organizationId } = await h.user();
    const ctx = createTenantContext({ organizationId, userId, role: 'owner' });
    const organizations = h.platform.resolve(OrganizationRepository);
    expect(await organizations.softDelete(ctx)).toBe(true);
    expect(await organizations.softDelete(ctx)).toBe(false);
    const trail = await events(ctx, 'organization.deleted');
    expect(trail).toHaveLength(1);
    expect(trail[0]).toMatchObject({ actorUserId: userId, organizationId, riskScore: 50 });
  });
});

describe('audit location (country/region from the ClientContext; no lookup)', () => {
  test('records the country and region the application supplied on sign-in events, and nothing when it supplied none', async ({ flow: h }) => {
    const u = await h.user();
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    await h.signIn.login(u.email, PASSWORD, { ip: '198.51.100.4', country: 'DE', region: 'DE-BY' });
    await expect(h.signIn.login(u.email, 'wrong-password-entirely', { ip: '198.51.100.4', country: 'FR' })).rejects.toBeDefined();
    await h.signIn.login(u.email, PASSWORD, { ip: '198.51.100.4' });
    const events = [...(await h.auditEvents(ctx))].reverse().filter((e) => e.eventType === 'auth.login.succeeded');
    expect(events.map((e) => [e.country, e.region])).toEqual([
      ['DE', 'DE-BY'],
      [null, null],
    ]);
    // A failed sign-in names no organization (it is not known yet), so it is read with the owner role.
    const failed = await h.platform.resolve(PostgresConnection).ownerPool.any(sql.type(
      z.object({ country: z.string().nullable(), region: z.string().nullable() }),
    )`
      SELECT country, region FROM audit_log WHERE event_type = 'auth.login.failed' AND actor_user_id = ${u.userId}`);
    expect(failed).toEqual([{ country: 'FR', region: null }]);
    // Codes are validated: ISO 3166-1 alpha-2 / ISO 3166-2, never free text.
    await expect(h.signIn.login(u.email, PASSWORD, { country: 'Germany' })).rejects.toMatchObject({ fields: ['context.country'] });
    await expect(h.platform.resolve(AuditRepository).append([{ eventType: 'x.y', region: 'Bavaria' }])).rejects.toMatchObject({ fields: ['events.0.region'] });
  });

  test('erasure pseudonymisation clears the location with the address', async ({ flow: h }) => {
    const u = await h.user();
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    await h.signIn.login(u.email, PASSWORD, { ip: '198.51.100.9', country: 'NL', region: 'NL-NH' });
    expect(await h.platform.resolve(AuditRepository).pseudonymiseUser(u.userId)).toBeGreaterThan(0);
    const events = await h.auditEvents(ctx);
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) expect([e.ip, e.country, e.region]).toEqual([null, null, null]);
  });
});
