import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { PostgresConnection } from '../postgres-connection.js';
import { MAINTENANCE_SCOPE, scopedPool } from '../with-scope.js';
import { withTenant } from '../with-tenant.js';
import { type KeysetPage, type KeysetPageInput, microsToTimestamp, parseKeysetPage, sortMicros, toKeysetPage } from './keyset-page.js';
import { noRows } from './no-rows.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { jsonObjectInput } from '../../input-policy.js';

export interface PersonaRecord {
  readonly id: string;
  readonly organizationId: string;
  readonly name: string;
  readonly description: string | null;
  readonly traits: Readonly<Record<string, unknown>>;
  readonly voice: string | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface PersonaPreference {
  readonly personaId: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly isDefault: boolean;
  readonly updatedAt: Date;
}

/** Where synthesized audio for (voice, text) is cached; the bytes live outside PostgreSQL. */
export interface VoiceCacheEntry {
  readonly id: string;
  readonly organizationId: string;
  readonly personaId: string | null;
  /** SHA-256 (hex) of what was synthesized, e.g. voice + text. */
  readonly cacheKey: string;
  readonly storageUri: string;
  readonly contentType: string;
  readonly byteSize: number;
  readonly durationMs: number | null;
  readonly hitCount: number;
  readonly lastAccessedAt: Date;
  readonly expiresAt: Date | null;
  readonly createdAt: Date;
}

const json = z.record(z.string(), z.unknown());
const shape = {
  id: z.uuid(),
  organization_id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  traits: json,
  voice: z.string().nullable(),
  created_by: z.uuid().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
};
type RawRow = z.infer<z.ZodObject<typeof shape>>;
function toRecord(r: RawRow): PersonaRecord {
  return {
    id: r.id,
    organizationId: r.organization_id,
    name: r.name,
    description: r.description,
    traits: r.traits,
    voice: r.voice,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
const recordRow = z.object(shape).transform(toRecord);
const listRow = z.object({ ...shape, sort_us: z.number() }).transform((r) => ({ item: toRecord(r), position: { us: r.sort_us, id: r.id } }));
const preferenceRow = z
  .object({ persona_id: z.uuid(), user_id: z.uuid(), organization_id: z.uuid(), settings: json, is_default: z.boolean(), updated_at: z.date() })
  .transform((r): PersonaPreference => ({
    personaId: r.persona_id,
    userId: r.user_id,
    organizationId: r.organization_id,
    settings: r.settings,
    isDefault: r.is_default,
    updatedAt: r.updated_at,
  }));
const voiceRow = z
  .object({
    id: z.uuid(),
    organization_id: z.uuid(),
    persona_id: z.uuid().nullable(),
    cache_key: z.string(),
    storage_uri: z.string(),
    content_type: z.string(),
    byte_size: z.number(),
    duration_ms: z.number().nullable(),
    hit_count: z.number(),
    last_accessed_at: z.date(),
    expires_at: z.date().nullable(),
    created_at: z.date(),
  })
  .transform((r): VoiceCacheEntry => ({
    id: r.id,
    organizationId: r.organization_id,
    personaId: r.persona_id,
    cacheKey: r.cache_key,
    storageUri: r.storage_uri,
    contentType: r.content_type,
    byteSize: r.byte_size,
    durationMs: r.duration_ms,
    hitCount: r.hit_count,
    lastAccessedAt: r.last_accessed_at,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
  }));

const COLUMNS = sql.fragment`id, organization_id, name, description, traits, voice, created_by, created_at, updated_at`;
const PREFERENCE_COLUMNS = sql.fragment`persona_id, user_id, organization_id, settings, is_default, updated_at`;
const VOICE_COLUMNS = sql.fragment`id, organization_id, persona_id, encode(cache_key, 'hex') AS cache_key, storage_uri, content_type,
  byte_size, duration_ms, hit_count, last_accessed_at, expires_at, created_at`;

const MAX_JSON_BYTES = 32_768;
const jsonObject = jsonObjectInput(MAX_JSON_BYTES);
const personaFields = {
  name: z.string().trim().min(1).max(100),
  description: z.string().max(2000).nullable(),
  traits: jsonObject,
  voice: z.string().min(1).max(100).nullable(),
};
const createInput = z
  .object({ ...personaFields, description: personaFields.description.optional(), traits: jsonObject.default({}), voice: personaFields.voice.optional() })
  .strict();
export type CreatePersonaInput = z.input<typeof createInput>;
const updateInput = z.object(personaFields).partial().strict();
export type UpdatePersonaInput = z.input<typeof updateInput>;
const preferenceInput = z.object({ settings: jsonObject.optional(), isDefault: z.boolean().optional() }).strict();
export type PersonaPreferenceInput = z.input<typeof preferenceInput>;
const voiceInput = z
  .object({
    personaId: z.uuid().nullable().optional(),
    cacheKey: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256'),
    storageUri: z.string().min(1).max(2000),
    contentType: z.string().min(1).max(100),
    byteSize: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    durationMs: z.number().int().min(0).max(2_147_483_647).nullable().optional(),
    expiresAt: z.date().nullable().optional(),
  })
  .strict();
export type VoiceCacheEntryInput = z.input<typeof voiceInput>;

/**
 * Personas of an organization (name, traits, voice), each user's persona
 * preferences, and voice-cache metadata. All tenant work through `withTenant`;
 * only the expired-cache cleanup (a job across tenants) uses the owner pool.
 * Deleting a persona is soft (`deleted_at`), freeing its name for reuse.
 */
@injectable()
@accessControlled
export class PersonaRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * @throws ValidationError naming the invalid field
   * @throws ConflictError `personas_organization_name_key` when a live persona has that name (case-insensitive)
   */
  @declareAccess({ requires: 'personas:write' })
  async create(ctx: TenantContext, input: CreatePersonaInput): Promise<PersonaRecord> {
    const data = parseInput(createInput, input);
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.one(sql.type(recordRow)`
        INSERT INTO personas (organization_id, name, description, traits, voice, created_by)
        VALUES (${ctx.organizationId}, ${data.name}, ${data.description ?? null}, ${sql.jsonb(data.traits)}, ${data.voice ?? null}, ${ctx.userId})
        RETURNING ${COLUMNS}`),
    );
  }

  /**
   * @throws ValidationError naming `id`
   * @throws NotFoundError when no live persona has that id in the organization
   */
  @declareAccess({ requires: 'personas:read' })
  async get(ctx: TenantContext, id: string): Promise<PersonaRecord> {
    const personaId = parseInput(uuidInput, id, 'id');
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM personas WHERE id = ${personaId} AND deleted_at IS NULL`),
    );
    if (!row) throw new NotFoundError('persona', personaId);
    return row;
  }

  /**
   * Live personas of the organization, oldest first.
   * @throws ValidationError naming `page.*`
   */
  @declareAccess({ requires: 'personas:read' })
  async list(ctx: TenantContext, page?: KeysetPageInput): Promise<KeysetPage<PersonaRecord>> {
    const { limit, position } = parseKeysetPage(page);
    const rows = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(listRow)`
        SELECT ${COLUMNS}, ${sortMicros(sql.fragment`created_at`)} AS sort_us FROM personas
        WHERE organization_id = ${ctx.organizationId} AND deleted_at IS NULL
          ${position ? sql.fragment`AND (created_at, id) > (${microsToTimestamp(position.us)}, ${position.id})` : sql.fragment``}
        ORDER BY created_at, id
        LIMIT ${limit + 1}`),
    );
    return toKeysetPage(rows, limit);
  }

  /**
   * Changes the given fields (`traits` is replaced as a whole).
   * @throws ValidationError naming the invalid field
   * @throws NotFoundError when no live persona has that id
   * @throws ConflictError `personas_organization_name_key` on a duplicate name
   */
  @declareAccess({ requires: 'personas:write' })
  async update(ctx: TenantContext, id: string, patch: UpdatePersonaInput): Promise<PersonaRecord> {
    const personaId = parseInput(uuidInput, id, 'id');
    const data = parseInput(updateInput, patch);
    const sets = [
      data.name === undefined ? undefined : sql.fragment`name = ${data.name}`,
      data.description === undefined ? undefined : sql.fragment`description = ${data.description}`,
      data.traits === undefined ? undefined : sql.fragment`traits = ${sql.jsonb(data.traits)}`,
      data.voice === undefined ? undefined : sql.fragment`voice = ${data.voice}`,
    ].filter((s) => s !== undefined);
    if (sets.length === 0) return this.get(ctx, personaId);
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(recordRow)`
        UPDATE personas SET ${sql.join(sets, sql.fragment`, `)} WHERE id = ${personaId} AND deleted_at IS NULL RETURNING ${COLUMNS}`),
    );
    if (!row) throw new NotFoundError('persona', personaId);
    return row;
  }

  /**
   * Soft-deletes a persona. Users' preferences for it stay (row-level security
   * lets a user touch only their own) but are no longer listed.
   * @returns true when a live persona was deleted
   * @throws ValidationError naming `id`
   */
  @declareAccess({ requires: 'personas:write' })
  async delete(ctx: TenantContext, id: string): Promise<boolean> {
    const personaId = parseInput(uuidInput, id, 'id');
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const row = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        UPDATE personas SET deleted_at = now() WHERE id = ${personaId} AND deleted_at IS NULL RETURNING id`);
      return row !== null;
    });
  }

  /**
   * Sets the current user's preference for a persona (upsert); `isDefault: true`
   * clears the user's other default in the same transaction.
   * @throws ValidationError naming the invalid field
   * @throws NotFoundError when no live persona has that id
   */
  @declareAccess({ requires: 'personas:write' })
  async setPreference(ctx: TenantContext, personaId: string, input: PersonaPreferenceInput): Promise<PersonaPreference> {
    const id = parseInput(uuidInput, personaId, 'personaId');
    const data = parseInput(preferenceInput, input);
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const persona = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        SELECT id FROM personas WHERE id = ${id} AND deleted_at IS NULL FOR SHARE`);
      if (!persona) throw new NotFoundError('persona', id);
      if (data.isDefault === true) {
        await tx.query(sql.type(noRows)`
          UPDATE user_persona_preferences SET is_default = false
          WHERE organization_id = ${ctx.organizationId} AND user_id = ${ctx.userId} AND is_default AND persona_id <> ${id}`);
      }
      return tx.one(sql.type(preferenceRow)`
        INSERT INTO user_persona_preferences (organization_id, user_id, persona_id, settings, is_default)
        VALUES (${ctx.organizationId}, ${ctx.userId}, ${id}, ${sql.jsonb(data.settings ?? {})}, ${data.isDefault ?? false})
        ON CONFLICT (organization_id, user_id, persona_id) DO UPDATE SET
          settings = ${data.settings === undefined ? sql.fragment`user_persona_preferences.settings` : sql.fragment`EXCLUDED.settings`},
          is_default = ${data.isDefault === undefined ? sql.fragment`user_persona_preferences.is_default` : sql.fragment`EXCLUDED.is_default`}
        RETURNING ${PREFERENCE_COLUMNS}`);
    });
  }

  /** The current user's preferences in the organization, for live personas. */
  @declareAccess({ requires: 'personas:read' })
  async listPreferences(ctx: TenantContext): Promise<readonly PersonaPreference[]> {
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(preferenceRow)`
        SELECT p.persona_id, p.user_id, p.organization_id, p.settings, p.is_default, p.updated_at
        FROM user_persona_preferences p JOIN personas x ON x.id = p.persona_id AND x.deleted_at IS NULL
        WHERE p.organization_id = ${ctx.organizationId} AND p.user_id = ${ctx.userId}
        ORDER BY p.is_default DESC, p.updated_at DESC`),
    );
  }

  /**
   * Records where cached audio lives (upsert on organization + cache key).
   * @throws ValidationError naming the invalid field
   * @throws ConflictError `voice_cache_entries_persona_fkey` when the persona is not in the organization
   */
  @declareAccess({ requires: 'personas:write' })
  async putVoiceCacheEntry(ctx: TenantContext, input: VoiceCacheEntryInput): Promise<VoiceCacheEntry> {
    const data = parseInput(voiceInput, input);
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.one(sql.type(voiceRow)`
        INSERT INTO voice_cache_entries (organization_id, persona_id, cache_key, storage_uri, content_type, byte_size, duration_ms, expires_at)
        VALUES (${ctx.organizationId}, ${data.personaId ?? null}, decode(${data.cacheKey}, 'hex'), ${data.storageUri}, ${data.contentType},
                ${data.byteSize}, ${data.durationMs ?? null}, ${data.expiresAt ? sql.timestamp(data.expiresAt) : null})
        ON CONFLICT ON CONSTRAINT voice_cache_entries_organization_key_key DO UPDATE SET
          persona_id = EXCLUDED.persona_id, storage_uri = EXCLUDED.storage_uri, content_type = EXCLUDED.content_type,
          byte_size = EXCLUDED.byte_size, duration_ms = EXCLUDED.duration_ms, expires_at = EXCLUDED.expires_at,
          last_accessed_at = now()
        RETURNING ${VOICE_COLUMNS}`),
    );
  }

  /**
   * Looks up cached audio and counts the hit (one UPDATE … RETURNING); expired entries are misses.
   * @returns the entry, or `undefined` on a miss
   * @throws ValidationError naming `cacheKey`
   */
  @declareAccess({ requires: 'personas:read' })
  async hitVoiceCacheEntry(ctx: TenantContext, cacheKey: string): Promise<VoiceCacheEntry | undefined> {
    const key = parseInput(voiceInput.shape.cacheKey, cacheKey, 'cacheKey');
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(voiceRow)`
        UPDATE voice_cache_entries SET hit_count = hit_count + 1, last_accessed_at = now()
        WHERE organization_id = ${ctx.organizationId} AND cache_key = decode(${key}, 'hex')
          AND (expires_at IS NULL OR expires_at > now())
        RETURNING ${VOICE_COLUMNS}`),
    );
    return row ?? undefined;
  }

  /**
   * Deletes expired voice-cache metadata of every tenant (the caller removes the audio it pointed to).
   * @returns the removed entries' storage URIs
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async deleteExpiredVoiceCacheEntries(limit = 1000): Promise<readonly string[]> {
    const n = parseInput(z.number().int().min(1).max(100_000), limit, 'limit');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE).anyFirst(sql.type(z.object({ storage_uri: z.string() }))`
        DELETE FROM voice_cache_entries WHERE id IN (
          SELECT id FROM voice_cache_entries WHERE expires_at <= now() ORDER BY expires_at LIMIT ${n}
        ) RETURNING storage_uri`),
    );
  }
}
