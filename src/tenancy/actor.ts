import { z } from 'zod';

/** Scope strings such as `knowledge:read` or `admin:*`. */
export const SCOPE_PATTERN = /^[a-z][a-z0-9_-]*(?::[a-z0-9_*-]+)*$/;
export const scopeSchema = z.string().max(100).regex(SCOPE_PATTERN, 'must look like "resource:action"');

/**
 * Who is calling, behind a {@link TenantContext}:
 * - `user` — a signed-in person acting with their membership role;
 * - `apiKey` — a key acting with its creator's CURRENT membership role,
 *   narrowed by the key's scopes (`creatorUserId` is the context's userId);
 * - `systemJob` — the platform's own machinery (the ingestion worker …),
 *   named for the audit log.
 */
export const actorSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('user'), userId: z.uuid() }).strict(),
  z.object({ kind: z.literal('apiKey'), keyId: z.uuid(), creatorUserId: z.uuid(), scopes: z.array(scopeSchema).max(200) }).strict(),
  z.object({ kind: z.literal('systemJob'), name: z.string().trim().min(1).max(100) }).strict(),
]);
export type Actor = Readonly<z.output<typeof actorSchema>>;
export type ActorKind = Actor['kind'];
