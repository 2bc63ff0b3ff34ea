import { TenantAccessError } from '../errors.js';
import type { MembershipRole } from './membership-role.js';
import type { TenantContext } from './tenant-context.js';

/** Every permission a repository or flow checks. `resource:action`. */
export const PERMISSIONS = [
  'organization:read',
  'organization:write',
  'organization:delete',
  'billing:manage',
  'members:read',
  'members:manage',
  'settings:read',
  'settings:manage',
  'audit:read',
  'api_keys:manage',
  'integrations:manage',
  'personas:read',
  'personas:write',
  'conversations:read',
  'conversations:write',
  'knowledge:read',
  'knowledge:write',
  'analytics:read',
  'analytics:write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READS: Permission[] = ['organization:read', 'members:read', 'personas:read', 'conversations:read', 'knowledge:read', 'settings:read'];
const MEMBER: Permission[] = [...READS, 'conversations:write', 'analytics:write'];

/**
 * What each membership role may do. Owners may do everything; only Owners may
 * delete the organization or manage billing; Developers get API keys and
 * knowledge writes but not member management; Viewers only read.
 */
export const ROLE_PERMISSIONS: Readonly<Record<MembershipRole, ReadonlySet<Permission>>> = {
  owner: new Set(PERMISSIONS),
  admin: new Set(PERMISSIONS.filter((p) => p !== 'organization:delete' && p !== 'billing:manage')),
  developer: new Set([...MEMBER, 'api_keys:manage', 'integrations:manage', 'knowledge:write', 'personas:write', 'analytics:read']),
  member: new Set([...MEMBER, 'personas:write']),
  viewer: new Set(READS),
};

/**
 * Does `ctx` allow `permission`? The role decides; when the context carries
 * scopes (an API key, a delegated token), the permission must ALSO be among
 * them (`resource:*` matches every action), so a key can narrow but never widen a role.
 */
export function isAllowed(ctx: TenantContext, permission: Permission): boolean {
  if (!ROLE_PERMISSIONS[ctx.role]?.has(permission)) return false;
  if (ctx.scopes.length === 0) return true;
  const [resource] = permission.split(':');
  return ctx.scopes.some((s) => s === permission || s === `${resource}:*`);
}

/**
 * @throws TenantAccessError naming the missing permission
 */
export function authorize(ctx: TenantContext, permission: Permission): void {
  if (!isAllowed(ctx, permission)) {
    throw new TenantAccessError(`Role ${ctx.role}${ctx.scopes.length > 0 ? ' with the given scopes' : ''} lacks permission ${permission}`, { permission });
  }
}
