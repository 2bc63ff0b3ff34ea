import { TenantAccessError } from '../errors.js';
import type { TenantContext } from './tenant-context.js';

/**
 * Runtime half of "forgetting the tenant is a type error": JavaScript callers
 * and `as` casts can still pass `undefined` or a bare object, so repositories
 * check before building any filter.
 *
 * @throws TenantAccessError when `ctx` has no organizationId / userId
 */
export function requireTenantContext(ctx: TenantContext): TenantContext {
  const c = ctx as Partial<Record<'organizationId' | 'userId', unknown>> | null | undefined;
  if (!c || typeof c !== 'object' || typeof c.organizationId !== 'string' || c.organizationId === '' || typeof c.userId !== 'string') {
    throw new TenantAccessError('A TenantContext is required', { permission: 'organization' });
  }
  return ctx;
}
