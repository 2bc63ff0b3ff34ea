import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { MEMBERSHIP_ROLES } from './membership-role.js';

/** Scope strings such as `knowledge:read` or `admin:*`. */
const SCOPE = /^[a-z][a-z0-9_-]*(?::[a-z0-9_*-]+)*$/;

export const tenantContextSchema = z
  .object({
    organizationId: z.uuid(),
    userId: z.uuid(),
    role: z.enum(MEMBERSHIP_ROLES),
    scopes: z.array(z.string().max(100).regex(SCOPE, 'must look like "resource:action"')).max(200).default([]),
  })
  .strict()
  .readonly()
  .brand<'TenantContext'>();

/**
 * Who is acting and in which organization: the only way into tenant data.
 * Branded, so a plain object literal is a type error — it must come from
 * {@link createTenantContext}, which validates it.
 */
export type TenantContext = z.output<typeof tenantContextSchema>;
export type TenantContextInput = z.input<typeof tenantContextSchema>;

/**
 * Validates and freezes a tenant context.
 *
 * @example
 * const ctx = createTenantContext({ organizationId, userId, role: 'admin', scopes: ['knowledge:read'] });
 * @throws ValidationError naming each invalid field (e.g. `organizationId`)
 */
export function createTenantContext(input: TenantContextInput): TenantContext {
  const parsed = tenantContextSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code })));
  }
  return Object.freeze({ ...parsed.data, scopes: Object.freeze([...parsed.data.scopes]) }) as TenantContext;
}
