import { TenantAccessError } from '../errors.js';
import { MEMBERSHIP_ROLES, type MembershipRole } from './membership-role.js';
import { PERMISSION_MATRIX, PERMISSIONS, type Permission } from './permission-matrix.js';
import type { TenantContext } from './tenant-context.js';

export { PERMISSIONS, type Permission } from './permission-matrix.js';

/** What each membership role may do, read from {@link PERMISSION_MATRIX}. */
export const ROLE_PERMISSIONS: Readonly<Record<MembershipRole, ReadonlySet<Permission>>> = Object.fromEntries(
  MEMBERSHIP_ROLES.map((role) => [role, new Set(PERMISSIONS.filter((p) => (PERMISSION_MATRIX[p].roles as readonly string[]).includes(role)))]),
) as unknown as Record<MembershipRole, ReadonlySet<Permission>>;

/** Does the scope list grant `permission` (`resource:*` matches every action)? */
export function scopesGrant(scopes: readonly string[], permission: Permission): boolean {
  const [resource] = permission.split(':');
  return scopes.some((s) => s === permission || s === `${resource}:*`);
}

/**
 * Does `ctx` allow `permission`? The role decides; an API key additionally
 * needs a permission keys may hold at all (the matrix's `apiKey` column);
 * when the context carries scopes (an API key, a system job), the permission
 * must ALSO be among them, so scopes narrow but never widen a role.
 */
export function isAllowed(ctx: TenantContext, permission: Permission): boolean {
  if (!ROLE_PERMISSIONS[ctx.role]?.has(permission)) return false;
  if (ctx.actor?.kind === 'apiKey' && !PERMISSION_MATRIX[permission].apiKey) return false;
  return ctx.scopes.length === 0 || scopesGrant(ctx.scopes, permission);
}

/**
 * @throws TenantAccessError naming the missing permission
 */
export function authorize(ctx: TenantContext, permission: Permission): void {
  if (!isAllowed(ctx, permission)) {
    const who = ctx.actor?.kind === 'apiKey' ? `An API key of a ${ctx.role}` : `Role ${ctx.role}`;
    throw new TenantAccessError(`${who}${ctx.scopes.length > 0 ? ' with the given scopes' : ''} lacks permission ${permission}`, { permission });
  }
}

/**
 * The permissions a list of requested scopes would reach (a scope naming no
 * permission reaches none).
 */
export function permissionsOfScopes(scopes: readonly string[]): Permission[] {
  return PERMISSIONS.filter((p) => scopesGrant(scopes, p));
}
