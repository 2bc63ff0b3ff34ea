import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TenantAccessError } from '../../src/errors.js';
import { authorize, isAllowed, PERMISSIONS } from '../../src/tenancy/permission-policy.js';
import { createTenantContext } from '../../src/tenancy/tenant-context.js';

const ctx = (role: 'owner' | 'admin' | 'member' | 'viewer' | 'developer', scopes: string[] = []) =>
  createTenantContext({ organizationId: randomUUID(), userId: randomUUID(), role, scopes });

describe('permission policy', () => {
  it('owners may do everything; admins everything but deleting the organization and billing', () => {
    for (const p of PERMISSIONS) expect(isAllowed(ctx('owner'), p)).toBe(true);
    expect(isAllowed(ctx('admin'), 'organization:delete')).toBe(false);
    expect(isAllowed(ctx('admin'), 'billing:manage')).toBe(false);
    expect(isAllowed(ctx('admin'), 'members:manage')).toBe(true);
  });

  it('viewers only read; developers manage API keys but not members', () => {
    expect(isAllowed(ctx('viewer'), 'conversations:read')).toBe(true);
    expect(isAllowed(ctx('viewer'), 'conversations:write')).toBe(false);
    expect(isAllowed(ctx('developer'), 'api_keys:manage')).toBe(true);
    expect(isAllowed(ctx('developer'), 'members:manage')).toBe(false);
    expect(isAllowed(ctx('member'), 'api_keys:manage')).toBe(false);
  });

  it('scopes narrow a role and never widen it', () => {
    expect(isAllowed(ctx('owner', ['knowledge:read']), 'knowledge:read')).toBe(true);
    expect(isAllowed(ctx('owner', ['knowledge:read']), 'knowledge:write')).toBe(false);
    expect(isAllowed(ctx('owner', ['knowledge:*']), 'knowledge:write')).toBe(true);
    expect(isAllowed(ctx('viewer', ['knowledge:*']), 'knowledge:write')).toBe(false);
  });

  it('authorize names the missing permission', () => {
    const error = (() => {
      try {
        authorize(ctx('viewer'), 'audit:read');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(TenantAccessError);
    expect((error as TenantAccessError).permission).toBe('audit:read');
  });
});
