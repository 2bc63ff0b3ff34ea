import 'reflect-metadata';
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { ConflictError, NotFoundError } from '../../../../src/errors.js';
import { PersonaRepository } from '../../../../src/postgres/repositories/persona-repository.js';
import type { TenantContext } from '../../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

const key = (text: string) => createHash('sha256').update(text).digest('hex');

describe.skipIf(!requireStores('postgres'))('PersonaRepository', () => {
  let personas: PersonaRepository;
  let ctx: TenantContext;

  test.beforeAll(async ({ postgres: h }) => {
    personas = h.platform.resolve(PersonaRepository);
    ctx = await h.tenant();
  });

  test('creates, reads, updates, lists by keyset and soft-deletes personas', async ({ postgres: h }) => {
    const ada = await personas.create(ctx, { name: 'Ada', traits: { tone: 'precise', warmth: 0.4 }, voice: 'en-GB-1' });
    expect(ada).toMatchObject({
      organizationId: ctx.organizationId,
      name: 'Ada',
      traits: { tone: 'precise', warmth: 0.4 },
      voice: 'en-GB-1',
      createdBy: ctx.userId,
    });
    expect(await personas.get(ctx, ada.id)).toEqual(ada);
    const updated = await personas.update(ctx, ada.id, { description: 'Analyst', traits: { tone: 'kind' } });
    expect(updated).toMatchObject({ description: 'Analyst', traits: { tone: 'kind' }, voice: 'en-GB-1' });
    await expect(personas.create(ctx, { name: 'ADA' })).rejects.toMatchObject({ constraint: 'personas_organization_name_key' });
    const more = [await personas.create(ctx, { name: 'Bob' }), await personas.create(ctx, { name: 'Cy' })];
    const p1 = await personas.list(ctx, { limit: 2 });
    const p2 = await personas.list(ctx, { limit: 2, cursor: p1.nextCursor });
    expect([...p1.items, ...p2.items].map((p) => p.id)).toEqual([ada.id, ...more.map((p) => p.id)]);
    expect(await personas.delete(ctx, ada.id)).toBe(true);
    expect(await personas.delete(ctx, ada.id)).toBe(false);
    await expect(personas.get(ctx, ada.id)).rejects.toBeInstanceOf(NotFoundError);
    // The name is free again once deleted.
    await expect(personas.create(ctx, { name: 'Ada' })).resolves.toMatchObject({ name: 'Ada' });
    // Another tenant sees none of them.
    const other = await h.tenant();
    expect((await personas.list(other)).items).toEqual([]);
    await expect(personas.get(other, more[0]?.id ?? '')).rejects.toBeInstanceOf(NotFoundError);
  });

  test('keeps one default preference per user', async ({ postgres: h }) => {
    const a = await personas.create(ctx, { name: `A-${randomUUID()}` });
    const b = await personas.create(ctx, { name: `B-${randomUUID()}` });
    await personas.setPreference(ctx, a.id, { isDefault: true, settings: { speed: 1.2 } });
    const pb = await personas.setPreference(ctx, b.id, { isDefault: true });
    expect(pb).toMatchObject({ personaId: b.id, isDefault: true, settings: {} });
    const prefs = await personas.listPreferences(ctx);
    expect(prefs.filter((p) => p.isDefault).map((p) => p.personaId)).toEqual([b.id]);
    expect(prefs.find((p) => p.personaId === a.id)?.settings).toEqual({ speed: 1.2 });
    // A partial update keeps the other field.
    expect(await personas.setPreference(ctx, a.id, { settings: { speed: 2 } })).toMatchObject({ isDefault: false, settings: { speed: 2 } });
    const colleague = await h.member(ctx.organizationId, await h.user(), 'member');
    expect(await personas.listPreferences(colleague)).toEqual([]);
    await expect(personas.setPreference(ctx, randomUUID(), {})).rejects.toBeInstanceOf(NotFoundError);
  });

  test('records voice cache metadata, counts hits, expires entries', async ({ postgres: h }) => {
    const persona = await personas.create(ctx, { name: `V-${randomUUID()}`, voice: 'alloy' });
    const entry = await personas.putVoiceCacheEntry(ctx, {
      personaId: persona.id,
      cacheKey: key('hello'),
      storageUri: 'redis://tts/abc',
      contentType: 'audio/mpeg',
      byteSize: 1234,
      durationMs: 900,
    });
    expect(entry).toMatchObject({ cacheKey: key('hello'), hitCount: 0, byteSize: 1234 });
    expect((await personas.hitVoiceCacheEntry(ctx, key('hello')))?.hitCount).toBe(1);
    expect((await personas.hitVoiceCacheEntry(ctx, key('hello')))?.hitCount).toBe(2);
    expect(await personas.hitVoiceCacheEntry(ctx, key('missing'))).toBeUndefined();
    const other = await h.tenant();
    expect(await personas.hitVoiceCacheEntry(other, key('hello'))).toBeUndefined();
    await expect(
      personas.putVoiceCacheEntry(other, { personaId: persona.id, cacheKey: key('x'), storageUri: 's', contentType: 'audio/mpeg', byteSize: 1 }),
    ).rejects.toBeInstanceOf(ConflictError);

    await personas.putVoiceCacheEntry(ctx, {
      cacheKey: key('old'),
      storageUri: 'redis://tts/old',
      contentType: 'audio/mpeg',
      byteSize: 1,
      expiresAt: new Date(Date.now() + 60_000),
    });
    await h.postgres.ownerPool.query(
      sql.unsafe`UPDATE voice_cache_entries SET expires_at = now() - interval '1 second' WHERE cache_key = decode(${key('old')}, 'hex')`,
    );
    expect(await personas.hitVoiceCacheEntry(ctx, key('old'))).toBeUndefined();
    expect(await personas.deleteExpiredVoiceCacheEntries()).toEqual(['redis://tts/old']);
  });

  test('validates input before SQL', async () => {
    await expect(personas.create(ctx, { name: '' })).rejects.toMatchObject({ fields: ['name'] });
    await expect(personas.create(ctx, { name: 'x'.repeat(101) })).rejects.toMatchObject({ fields: ['name'] });
    await expect(personas.create(ctx, { name: 'ok', traits: { big: 'x'.repeat(40_000) } })).rejects.toMatchObject({ fields: ['traits'] });
    await expect(personas.get(ctx, 'nope')).rejects.toMatchObject({ fields: ['id'] });
    await expect(personas.putVoiceCacheEntry(ctx, { cacheKey: 'abc', storageUri: 's', contentType: 'a', byteSize: 1 })).rejects.toMatchObject({
      fields: ['cacheKey'],
    });
    await expect(personas.putVoiceCacheEntry(ctx, { cacheKey: key('n'), storageUri: 's', contentType: 'a', byteSize: -1 })).rejects.toMatchObject({
      fields: ['byteSize'],
    });
  });
});
