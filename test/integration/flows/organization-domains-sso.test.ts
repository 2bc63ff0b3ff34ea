import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { ConflictError, DnsLookupError, NotFoundError, TenantAccessError, ValidationError } from '../../../src/errors.js';
import { OrganizationDomains } from '../../../src/flows/organizations/organization-domains.js';
import { SsoConnections } from '../../../src/flows/organizations/sso-connections.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { AccountRepository } from '../../../src/postgres/repositories/account-repository.js';
import { MembershipRepository } from '../../../src/postgres/repositories/membership-repository.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { loadConfig } from '../../../src/config.js';
import { createPlatform } from '../../../src/platform.js';
import { testKeyRing } from '../../support/test-env.js';
import { requireStores } from '../../support/require-stores.js';
import { SignUpService } from '../../../src/flows/auth/sign-up-service.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { test } from '../../support/fixtures.js';

const SAML_METADATA =
  '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.test/saml"><md:IDPSSODescriptor/></md:EntityDescriptor>';

describe.skipIf(!requireStores('postgres', 'redis'))('organization domains and SSO connections', () => {
  let domains: OrganizationDomains;
  let sso: SsoConnections;
  const tag = () => Math.random().toString(36).slice(2, 10);

  test.beforeAll(async ({ flow: h }) => {
    domains = h.platform.resolve(OrganizationDomains);
    sso = h.platform.resolve(SsoConnections);
  });

  const owner = async (h: FlowHarness): Promise<TenantContext> => {
    const u = await h.user();
    return createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
  };
  const userAt = async (h: FlowHarness, domain: string, verified: boolean) => {
    const { user } = await h.platform
      .resolve(SignUpService)
      .createAccount({ email: `u-${tag()}@${domain}`, password: PASSWORD, organizationName: 'Own', ageConfirmed: true, emailVerified: verified });
    return user.id;
  };
  /** The application's DNS callback, answering what the customer published. */
  const dnsWith = (records: Record<string, string[]>) => async (name: string) => records[name] ?? [];

  test('verifies a domain only when the TXT record carries the challenge; audited in the same transaction', async ({ flow: h }) => {
    const ctx = await owner(h);
    const d = await domains.addDomain(ctx, `Acme-${tag()}.Example.`);
    expect(d.domain).toMatch(/^acme-[a-z0-9]+\.example$/);
    expect(d.challenge.name).toBe(`_platform-data-challenge.${d.domain}`);
    expect(d.challenge.value).toMatch(/^verification_token=[A-Za-z0-9_-]{32}$/);
    expect((await domains.verifyDomain(ctx, d.id, dnsWith({ [d.challenge.name]: ['verification_token=wrong'] }))).verifiedAt).toBeNull();
    await expect(domains.verifyDomain(ctx, d.id, async () => Promise.reject(new Error('SERVFAIL')))).rejects.toBeInstanceOf(DnsLookupError);
    const verified = await domains.verifyDomain(ctx, d.id, dnsWith({ [d.challenge.name]: ['v=spf1 -all', d.challenge.value] }));
    expect(verified.verifiedAt).toBeInstanceOf(Date);
    const events = (await h.auditEvents(ctx)).map((e) => e.eventType);
    expect(events).toEqual(expect.arrayContaining(['organization.domain.added', 'organization.domain.verified']));
  });

  test('refuses consumer mailbox domains and malformed names (WorkOS refuses gmail.com)', async ({ flow: h }) => {
    const ctx = await owner(h);
    for (const bad of ['gmail.com', 'not a domain', 'localhost', '-x.example']) {
      await expect(domains.addDomain(ctx, bad)).rejects.toBeInstanceOf(ValidationError);
    }
  });

  test('lets only one organization hold a domain verified; another may claim it but not verify it', async ({ flow: h }) => {
    const [a, b] = [await owner(h), await owner(h)];
    const domain = `shared-${tag()}.example`;
    const da = await domains.addDomain(a, domain);
    const db = await domains.addDomain(b, domain);
    await domains.verifyDomain(a, da.id, dnsWith({ [da.challenge.name]: [da.challenge.value] }));
    // B cannot publish A's token as its own: its challenge differs.
    expect(db.challenge.value).not.toBe(da.challenge.value);
    await expect(domains.verifyDomain(b, db.id, dnsWith({ [db.challenge.name]: [db.challenge.value] }))).rejects.toBeInstanceOf(ConflictError);
  });

  test('keeps each organization to its own domains: another tenant sees, verifies and removes nothing', async ({ flow: h }) => {
    const [a, b] = [await owner(h), await owner(h)];
    const d = await domains.addDomain(b, `private-${tag()}.example`);
    expect(await domains.listDomains(a)).toEqual([]);
    await expect(domains.verifyDomain(a, d.id, dnsWith({ [d.challenge.name]: [d.challenge.value] }))).rejects.toBeInstanceOf(NotFoundError);
    await expect(domains.setAutoJoin(a, d.id, 'member')).rejects.toBeInstanceOf(NotFoundError);
    expect(await domains.removeDomain(a, d.id)).toBe(false);
    expect((await domains.listDomains(b)).map((x) => x.id)).toEqual([d.id]);
  });

  test('auto-joins verified emails at a verified domain with the configured role (never owner), audited', async ({ flow: h }) => {
    const ctx = await owner(h);
    const d = await domains.addDomain(ctx, `join-${tag()}.example`);
    await expect(domains.setAutoJoin(ctx, d.id, 'member')).rejects.toBeInstanceOf(ConflictError); // not verified yet
    await domains.verifyDomain(ctx, d.id, dnsWith({ [d.challenge.name]: [d.challenge.value] }));
    const before = await userAt(h, d.domain, true);
    expect(await domains.joinByVerifiedDomain(before)).toEqual({ joined: false, reason: 'auto_join_off' });
    await expect(domains.setAutoJoin(ctx, d.id, 'owner' as never)).rejects.toBeInstanceOf(ValidationError);
    await domains.setAutoJoin(ctx, d.id, 'viewer');

    expect(await domains.joinByVerifiedDomain(before)).toEqual({ joined: true, organizationId: ctx.organizationId, role: 'viewer' });
    expect(await domains.joinByVerifiedDomain(before)).toEqual({ joined: false, reason: 'already_member' });
    expect((await h.platform.resolve(AccountRepository).findMembership(before, ctx.organizationId))?.role).toBe('viewer');
    // An unverified address proves nothing about the mailbox.
    expect(await domains.joinByVerifiedDomain(await userAt(h, d.domain, false))).toEqual({ joined: false, reason: 'email_not_verified' });
    expect(await domains.joinByVerifiedDomain(await userAt(h, `elsewhere-${tag()}.example`, true))).toEqual({ joined: false, reason: 'no_verified_domain' });
    const suspended = await userAt(h, d.domain, true);
    await h.revoker.suspendUser(suspended, 'auto-join test');
    expect(await domains.joinByVerifiedDomain(suspended)).toEqual({ joined: false, reason: 'account_not_active' });
    const joined = (await h.auditEvents(ctx)).filter((e) => e.eventType === 'organization.domain.auto_joined');
    expect(joined).toHaveLength(1);
    expect(joined[0]?.details).toMatchObject({ role: 'viewer', userId: before });
  });

  test('only settings managers change domains and SSO; viewers and members are refused before any store is touched', async ({ flow: h }) => {
    const ctx = await owner(h);
    const u = await h.user();
    const { token } = await h.platform.resolve(MembershipRepository).add(ctx, { userId: u.userId, role: 'member' });
    await h.platform.resolve(MembershipRepository).acceptInvitation(token);
    const member = createTenantContext({ organizationId: ctx.organizationId, userId: u.userId, role: 'member' });
    await expect(domains.addDomain(member, `m-${tag()}.example`)).rejects.toMatchObject({ permission: 'settings:manage' });
    await expect(sso.createSsoConnection(member, { protocol: 'oidc', name: 'x', issuer: 'https://idp.example.test', clientId: 'c' })).rejects.toBeInstanceOf(
      TenantAccessError,
    );
    expect(await domains.listDomains(member)).toEqual([]);
  });

  test('stores the OIDC client secret encrypted, lists connections without it, and routes by verified domain only', async ({ flow: h }) => {
    const ctx = await owner(h);
    const d = await domains.addDomain(ctx, `sso-${tag()}.example`);
    const secret = `oidc-secret-${tag()}`;
    const oidc = await sso.createSsoConnection(ctx, {
      protocol: 'oidc',
      name: 'Okta',
      issuer: 'https://acme.okta.example',
      clientId: 'client-1',
      clientSecret: secret,
    });
    const saml = await sso.createSsoConnection(ctx, {
      protocol: 'saml',
      name: 'ADFS',
      metadataXml: SAML_METADATA,
      entityId: 'https://idp.example.test/saml',
      acsUrl: 'https://app.example.test/sso/acs',
    });
    expect(oidc.oidc).toEqual({ issuer: 'https://acme.okta.example', clientId: 'client-1', hasClientSecret: true });
    expect(JSON.stringify(await sso.listSsoConnections(ctx))).not.toContain(secret);
    const raw = await h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT string_agg(row_to_json(c)::text, '') AS t FROM sso_connections c WHERE organization_id = ${ctx.organizationId}`);
    expect(raw).not.toContain(secret);
    expect(JSON.stringify(await h.auditEvents(ctx))).not.toContain(secret);

    // Not routed before the domain is verified: a claim proves nothing.
    expect(await sso.findSsoConnectionForEmail(`alice@${d.domain}`)).toBeNull();
    await domains.verifyDomain(ctx, d.id, dnsWith({ [d.challenge.name]: [d.challenge.value] }));
    const route = await sso.findSsoConnectionForEmail(`Alice@${d.domain.toUpperCase()}`);
    expect(route).toMatchObject({ connectionId: oidc.id, organizationId: ctx.organizationId, protocol: 'oidc', oidcIssuer: 'https://acme.okta.example' });
    expect(JSON.stringify(route)).not.toContain(secret);
    // Per domain, not per address: an address with no account gets the same answer (no user enumeration).
    expect(await sso.findSsoConnectionForEmail(`nobody-${tag()}@${d.domain}`)).toEqual(route);
    expect(await sso.clientCredentials(oidc.id)).toMatchObject({ clientId: 'client-1', clientSecret: secret, organizationId: ctx.organizationId });
    await expect(sso.clientCredentials(saml.id)).rejects.toBeInstanceOf(NotFoundError);

    await sso.setSsoConnectionEnabled(ctx, oidc.id, false);
    expect((await sso.findSsoConnectionForEmail(`alice@${d.domain}`))?.connectionId).toBe(saml.id);
    await expect(sso.clientCredentials(oidc.id)).rejects.toBeInstanceOf(NotFoundError);
    const other = await owner(h);
    expect(await sso.deleteSsoConnection(other, saml.id)).toBe(false);
    await expect(sso.setSsoConnectionEnabled(other, oidc.id, true)).rejects.toBeInstanceOf(NotFoundError);
    expect(await sso.deleteSsoConnection(ctx, saml.id)).toBe(true);
    expect(await sso.findSsoConnectionForEmail(`alice@${d.domain}`)).toBeNull();
    await expect(sso.createSsoConnection(ctx, { protocol: 'oidc', name: 'plain', issuer: 'http://idp.example.test', clientId: 'c' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      sso.createSsoConnection(ctx, { protocol: 'saml', name: 'bad', metadataXml: '<html/>', entityId: 'e', acsUrl: 'https://a.example/acs' }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  test('re-encrypts OIDC client secrets under a new SecretBox key; the credentials still read back', async ({ flow: h }) => {
    const ctx = await owner(h);
    const secret = `rotate-me-${tag()}`;
    const c = await sso.createSsoConnection(ctx, {
      protocol: 'oidc',
      name: 'Entra',
      issuer: 'https://login.example.test/tenant/v2.0',
      clientId: 'entra',
      clientSecret: secret,
    });
    const env = { ...h.t.env, PLATFORM_ENCRYPTION_KEYS: `${h.t.env.PLATFORM_ENCRYPTION_KEYS},${testKeyRing(['k2'])}`, PLATFORM_ENCRYPTION_ACTIVE_KEY_ID: 'k2' };
    const rotated = createPlatform(loadConfig(env), { stores: ['postgres', 'redis'] });
    await rotated.start();
    try {
      const result = await rotated.resolve(SsoConnections).reencryptAll(1);
      expect(result.failedIds).toEqual([]);
      expect(result.rewritten).toBeGreaterThan(0);
      expect(await rotated.resolve(SsoConnections).reencryptAll()).toEqual({ rewritten: 0, failedIds: [] });
      expect((await rotated.resolve(SsoConnections).clientCredentials(c.id)).clientSecret).toBe(secret);
    } finally {
      await rotated.stop();
    }
  });
});
