import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { DEFAULT_SECURITY_SETTINGS, SecuritySettingsRepository } from '../../../../src/postgres/repositories/security-settings-repository.js';
import type { TenantContext } from '../../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

describe.skipIf(!requireStores('postgres'))('SecuritySettingsRepository', () => {
  let settings: SecuritySettingsRepository;
  let ctx: TenantContext;

  test.beforeAll(async ({ postgres: h }) => {
    settings = h.platform.resolve(SecuritySettingsRepository);
    ctx = await h.tenant();
  });

  test('returns defaults until changed, then upserts only the given fields', async ({ postgres: h }) => {
    expect(await settings.get(ctx)).toEqual(DEFAULT_SECURITY_SETTINGS);
    const first = await settings.update(ctx, { passwordMinLength: 16, mfaRequired: true });
    expect(first).toEqual({ ...DEFAULT_SECURITY_SETTINGS, passwordMinLength: 16, mfaRequired: true });
    const second = await settings.update(ctx, { sessionTimeoutMinutes: 60, inactivityTimeoutMinutes: 15, passwordMaxAgeDays: 90 });
    expect(second).toMatchObject({ passwordMinLength: 16, mfaRequired: true, sessionTimeoutMinutes: 60, inactivityTimeoutMinutes: 15, passwordMaxAgeDays: 90 });
    expect(await settings.get(ctx)).toEqual(second);
    expect(await settings.getForOrganization(ctx.organizationId)).toEqual(second);
    const other = await h.tenant();
    expect(await settings.get(other)).toEqual(DEFAULT_SECURITY_SETTINGS);
  });

  test('decides IP allow-listing in SQL (inet <<= ANY(cidr[]))', async ({ postgres: h }) => {
    const org = await h.tenant();
    expect(await settings.isIpAllowed(org.organizationId, '198.51.100.7')).toBe(true);
    expect(await settings.isIpAllowed(randomUUID(), '198.51.100.7')).toBe(true);
    const updated = await settings.update(org, { ipAllowList: ['203.0.113.0/24', '10.1.2.3/8', '2001:db8::/32', '192.0.2.55'] });
    expect(updated.ipAllowList).toEqual(['203.0.113.0/24', '10.0.0.0/8', '2001:db8::/32', '192.0.2.55/32']);
    expect(await settings.isIpAllowed(org.organizationId, '203.0.113.200')).toBe(true);
    expect(await settings.isIpAllowed(org.organizationId, '10.200.0.1')).toBe(true);
    expect(await settings.isIpAllowed(org.organizationId, '2001:db8:1::5')).toBe(true);
    expect(await settings.isIpAllowed(org.organizationId, '192.0.2.55')).toBe(true);
    expect(await settings.isIpAllowed(org.organizationId, '192.0.2.56')).toBe(false);
    expect(await settings.isIpAllowed(org.organizationId, '2001:db9::1')).toBe(false);
    await settings.update(org, { ipAllowList: [] });
    expect(await settings.isIpAllowed(org.organizationId, '192.0.2.56')).toBe(true);
  });

  test('validates settings before SQL, naming the field', async () => {
    await expect(settings.update(ctx, { passwordMinLength: 4 })).rejects.toMatchObject({ fields: ['passwordMinLength'] });
    await expect(settings.update(ctx, { passwordHistoryCount: 25 })).rejects.toMatchObject({ fields: ['passwordHistoryCount'] });
    await expect(settings.update(ctx, { ipAllowList: ['10.0.0.0/8', '10.0.0.0/33'] })).rejects.toMatchObject({ fields: ['ipAllowList.1'] });
    await expect(settings.update(ctx, { ipAllowList: ["1.2.3.4'; DROP TABLE users; --"] })).rejects.toMatchObject({ fields: ['ipAllowList.0'] });
    await expect(settings.update(ctx, { sessionTimeoutMinutes: 10, inactivityTimeoutMinutes: 20 })).rejects.toMatchObject({
      fields: ['inactivityTimeoutMinutes'],
    });
    await expect(settings.update(ctx, { mfaRequired: 'yes' as unknown as boolean })).rejects.toMatchObject({ fields: ['mfaRequired'] });
    await expect(settings.update(ctx, { unknownSetting: 1 } as never)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(settings.isIpAllowed(ctx.organizationId, 'localhost')).rejects.toMatchObject({ fields: ['ip'] });
    await expect(settings.getForOrganization('org')).rejects.toMatchObject({ fields: ['organizationId'] });
  });
});
