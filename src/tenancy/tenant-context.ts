import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { actorSchema, scopeSchema, type Actor } from './actor.js';
import { MEMBERSHIP_ROLES } from './membership-role.js';

export const tenantContextSchema = z
  .object({
    organizationId: z.uuid(),
    userId: z.uuid(),
    role: z.enum(MEMBERSHIP_ROLES),
    scopes: z.array(scopeSchema).max(200).default([]),
    /** Default: the user `userId` acting in person. */
    actor: actorSchema.optional(),
  })
  .strict()
  .refine((c) => c.actor?.kind !== 'user' || c.actor.userId === c.userId, { path: ['actor', 'userId'], message: 'must equal userId' })
  .refine((c) => c.actor?.kind !== 'apiKey' || c.actor.creatorUserId === c.userId, { path: ['actor', 'creatorUserId'], message: 'must equal userId' })
  .readonly()
  .brand<'TenantContext'>();

/**
 * Who is acting and in which organization: the only way into tenant data.
 * Branded, so a plain object literal is a type error — it must come from
 * {@link createTenantContext}, which validates it; `actor` says whether a
 * person, an API key or a system job is behind it.
 */
export type TenantContext = Omit<z.output<typeof tenantContextSchema>, 'actor'> & { readonly actor: Actor };
export type TenantContextInput = z.input<typeof tenantContextSchema>;

// Contexts this module made: the access check accepts no other object, so a cast or a copy is refused.
const issued = new WeakSet<object>();

/**
 * Validates and freezes a tenant context.
 *
 * @example
 * const ctx = createTenantContext({ organizationId, userId, role: 'admin', scopes: ['knowledge:read'] });
 * @throws ValidationError naming each invalid field (e.g. `organizationId`, `actor.creatorUserId`)
 */
export function createTenantContext(input: TenantContextInput): TenantContext {
  const parsed = tenantContextSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code })));
  }
  const actor: Actor = parsed.data.actor ?? { kind: 'user', userId: parsed.data.userId };
  const context = Object.freeze({ ...parsed.data, scopes: Object.freeze([...parsed.data.scopes]), actor: Object.freeze(actor) }) as TenantContext;
  issued.add(context);
  return context;
}

/** Was `value` made by {@link createTenantContext}? */
export function isTenantContext(value: unknown): value is TenantContext {
  return typeof value === 'object' && value !== null && issued.has(value);
}
