import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { CryptoError, NotFoundError, TokenError, ValidationError } from '../../../../src/errors.js';
import { RefreshTokenRepository } from '../../../../src/postgres/repositories/refresh-token-repository.js';
import { RefreshTokenReusedError } from '../../../../src/postgres/repositories/refresh-token-reused-error.js';
import { SessionRepository } from '../../../../src/postgres/repositories/session-repository.js';
import type { TenantContext } from '../../../../src/tenancy/tenant-context.js';
import { type PostgresHarness } from '../../../support/postgres-harness.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

const rawRow = z.object({
  id: z.uuid(),
  token_hash: z.instanceof(Buffer),
  replacement_token_encrypted: z.instanceof(Buffer).nullable(),
  replaced_by: z.uuid().nullable(),
  revoked_at: z.date().nullable(),
});

describe.skipIf(!requireStores('postgres'))('RefreshTokenRepository', () => {
  let tokens: RefreshTokenRepository;
  let sessions: SessionRepository;
  let ctx: TenantContext;

  const newSession = async () => (await sessions.create(ctx, { accessTokenJti: randomUUID() })).id;
  const family = (h: PostgresHarness, familyId: string) =>
    h.postgres.ownerPool.any(sql.type(rawRow)`
      SELECT id, token_hash, replacement_token_encrypted, replaced_by, revoked_at
      FROM refresh_tokens WHERE family_id = ${familyId} ORDER BY created_at, id`);
  /** Moves a rotation into the past, as if the grace window had passed. */
  const ageRotation = (h: PostgresHarness, id: string, seconds: number) =>
    h.postgres.ownerPool.query(sql.unsafe`UPDATE refresh_tokens SET rotated_at = rotated_at - make_interval(secs => ${seconds}) WHERE id = ${id}`);

  test.beforeAll(async ({ postgres: h }) => {
    tokens = h.platform.resolve(RefreshTokenRepository);
    sessions = h.platform.resolve(SessionRepository);
    ctx = await h.tenant();
  });

  test('is a singleton of the platform container', ({ postgres: h }) => {
    expect(h.platform.resolve(RefreshTokenRepository)).toBe(tokens);
  });

  test('issues a token once and stores only its SHA-256', async ({ postgres: h }) => {
    const sessionId = await newSession();
    const { token, refreshToken } = await tokens.issue(sessionId);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(refreshToken).toMatchObject({ sessionId, userId: ctx.userId, organizationId: ctx.organizationId, parentId: null });
    const [row] = await family(h, refreshToken.familyId);
    expect(row?.token_hash.length).toBe(32);
    const dump = await h.postgres.ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT row_to_json(r)::text AS t FROM refresh_tokens r WHERE id = ${refreshToken.id}`);
    expect(dump).not.toContain(token);
  });

  test('rotates: marks the parent rotated and issues a child in the same family', async ({ postgres: h }) => {
    const { token, refreshToken } = await tokens.issue(await newSession());
    const next = await tokens.rotate(token);
    expect(next.token).not.toBe(token);
    expect(next.replayed).toBe(false);
    expect(next.refreshToken).toMatchObject({ familyId: refreshToken.familyId, parentId: refreshToken.id });
    const rows = await family(h, refreshToken.familyId);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ id: refreshToken.id, replaced_by: next.refreshToken.id });
    const third = await tokens.rotate(next.token);
    expect(third.refreshToken.parentId).toBe(next.refreshToken.id);
  });

  test('keeps the grace-window token encrypted at rest and bound to its row', async ({ postgres: h }) => {
    const { token, refreshToken } = await tokens.issue(await newSession());
    const next = await tokens.rotate(token);
    const [parent] = await family(h, refreshToken.familyId);
    const cipher = parent?.replacement_token_encrypted;
    expect(cipher).toBeInstanceOf(Buffer);
    expect(cipher?.includes(Buffer.from(next.token))).toBe(false);
    expect(cipher?.toString('latin1')).not.toContain(next.token);

    // Copy the ciphertext to another rotated row: decryption must fail (AAD names the row).
    const other = await tokens.issue(await newSession());
    await tokens.rotate(other.token);
    const [otherParent] = await family(h, other.refreshToken.familyId);
    await h.postgres.ownerPool.query(sql.unsafe`
      UPDATE refresh_tokens SET replacement_token_encrypted = ${sql.binary(cipher ?? Buffer.alloc(0))} WHERE id = ${otherParent?.id ?? ''}`);
    await expect(tokens.rotate(other.token)).rejects.toBeInstanceOf(CryptoError);
  });

  test('100 concurrent rotations of one token yield exactly one new lineage; every caller gets the same token', async ({ postgres: h }) => {
    const { token, refreshToken } = await tokens.issue(await newSession());
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => tokens.rotate(token)));
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toEqual([]);
    const fulfilled = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(new Set(fulfilled.map((r) => r.token)).size).toBe(1);
    expect(new Set(fulfilled.map((r) => r.refreshToken.id)).size).toBe(1);
    expect(fulfilled.filter((r) => !r.replayed)).toHaveLength(1);
    const rows = await family(h, refreshToken.familyId);
    expect(rows).toHaveLength(2);
    // The lineage continues from the shared token.
    const next = await tokens.rotate(fulfilled[0]?.token ?? '');
    expect(next.refreshToken.parentId).toBe(fulfilled[0]?.refreshToken.id);
  });

  test('reuse after the grace window revokes the family and the session, and says so', async ({ postgres: h }) => {
    const sessionId = await newSession();
    const { token, refreshToken } = await tokens.issue(sessionId);
    const child = await tokens.rotate(token);
    await ageRotation(h, refreshToken.id, 60);

    const error = await tokens.rotate(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefreshTokenReusedError);
    expect(error).toBeInstanceOf(TokenError);
    expect(error).toMatchObject({
      reason: 'reused',
      familyId: refreshToken.familyId,
      sessionId,
      userId: ctx.userId,
      organizationId: ctx.organizationId,
      revokedTokens: 2,
      sessionRevoked: true,
    });
    const rows = await family(h, refreshToken.familyId);
    expect(rows.every((r) => r.revoked_at !== null && r.replacement_token_encrypted === null)).toBe(true);
    expect((await sessions.get(sessionId))?.revokedReason).toBe('refresh_token_reuse');
    // The stolen lineage is dead too.
    await expect(tokens.rotate(child.token)).rejects.toMatchObject({ reason: 'revoked' });
    await expect(tokens.rotate(token)).rejects.toMatchObject({ reason: 'revoked' });
  });

  test('concurrent reuse after the window: one detection, everyone refused', async ({ postgres: h }) => {
    const { token, refreshToken } = await tokens.issue(await newSession());
    await tokens.rotate(token);
    await ageRotation(h, refreshToken.id, 60);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => tokens.rotate(token)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as TokenError).reason : 'ok'));
    expect(reasons.filter((r) => r === 'reused')).toHaveLength(1);
    expect(reasons.filter((r) => r === 'revoked')).toHaveLength(19);
  });

  test('purges grace ciphertexts once the window has passed', async ({ postgres: h }) => {
    const { token, refreshToken } = await tokens.issue(await newSession());
    const child = await tokens.rotate(token);
    await ageRotation(h, refreshToken.id, 60);
    expect(await tokens.purgeGraceSecrets()).toBeGreaterThanOrEqual(1);
    const [parent] = await family(h, refreshToken.familyId);
    expect(parent?.replacement_token_encrypted).toBeNull();
    // Rotation of the child also clears stale ciphertexts of its family.
    await tokens.rotate(child.token);
  });

  test('refuses unknown, expired and revoked tokens and revoked sessions', async ({ postgres: h }) => {
    await expect(tokens.rotate('x'.repeat(43))).rejects.toMatchObject({ reason: 'invalid' });
    const expired = await tokens.issue(await newSession());
    await h.postgres.ownerPool.query(sql.unsafe`UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE id = ${expired.refreshToken.id}`);
    await expect(tokens.rotate(expired.token)).rejects.toMatchObject({ reason: 'expired' });

    const sessionId = await newSession();
    const live = await tokens.issue(sessionId);
    await sessions.revoke(sessionId, 'logout');
    await expect(tokens.rotate(live.token)).rejects.toMatchObject({ reason: 'revoked' });
    await expect(tokens.issue(sessionId)).rejects.toMatchObject({ reason: 'revoked' });

    const fam = await tokens.issue(await newSession());
    expect(await tokens.revokeFamily(fam.refreshToken.familyId, 'logout')).toBe(1);
    await expect(tokens.rotate(fam.token)).rejects.toMatchObject({ reason: 'revoked' });
  });

  test('issues into an existing family of the same session only', async () => {
    const sessionId = await newSession();
    const first = await tokens.issue(sessionId);
    const second = await tokens.issue(sessionId, first.refreshToken.familyId);
    expect(second.refreshToken.familyId).toBe(first.refreshToken.familyId);
    await expect(tokens.issue(await newSession(), first.refreshToken.familyId)).rejects.toBeInstanceOf(NotFoundError);
    await expect(tokens.issue(randomUUID())).rejects.toBeInstanceOf(NotFoundError);
  });

  test('validates input before SQL', async () => {
    await expect(tokens.issue('not-a-uuid')).rejects.toMatchObject({ fields: ['sessionId'] });
    await expect(tokens.rotate('')).rejects.toBeInstanceOf(ValidationError);
    await expect(tokens.rotate('a'.repeat(600))).rejects.toMatchObject({ fields: ['token'] });
    await expect(tokens.revokeFamily(randomUUID(), 'r'.repeat(201))).rejects.toMatchObject({ fields: ['reason'] });
  });
});

// Its own database and platform: the grace window is read at start.
const zeroGrace = test.extend('envOverrides', { scope: 'file' }, { REFRESH_REUSE_GRACE_SECONDS: '0' });

describe.skipIf(!requireStores('postgres'))('RefreshTokenRepository with a zero grace window', () => {
  zeroGrace('treats any second use as reuse', async ({ postgres: h }) => {
    const ctx = await h.tenant();
    const sessions = h.platform.resolve(SessionRepository);
    const tokens = h.platform.resolve(RefreshTokenRepository);
    const { token } = await tokens.issue((await sessions.create(ctx, { accessTokenJti: randomUUID() })).id);
    await tokens.rotate(token);
    await expect(tokens.rotate(token)).rejects.toBeInstanceOf(RefreshTokenReusedError);
  });
});
