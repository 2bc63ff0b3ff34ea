import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { ConflictError, TokenError, ValidationError } from '../../../../src/errors.js';
import { VerificationTokenRepository, type VerificationPurpose } from '../../../../src/postgres/repositories/verification-token-repository.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

describe.skipIf(!requireStores('postgres'))('VerificationTokenRepository', () => {
  let repo: VerificationTokenRepository;
  let userId: string;

  test.beforeAll(async ({ postgres: h }) => {
    repo = h.platform.resolve(VerificationTokenRepository);
    userId = await h.user();
  });

  test.for([
    ['email_verification', 24 * 3600],
    ['password_reset', 3600],
    ['magic_link', 900],
  ] as const)('%s tokens live %i s and store only a hash', async ([purpose, ttl]: readonly [VerificationPurpose, number], { postgres: h }) => {
    const { token, verificationToken } = await repo.create(userId, purpose);
    const lifetime = (verificationToken.expiresAt.getTime() - verificationToken.createdAt.getTime()) / 1000;
    expect(Math.abs(lifetime - ttl)).toBeLessThan(2);
    const dump = await h.postgres.ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT row_to_json(v)::text AS t FROM verification_tokens v WHERE id = ${verificationToken.id}`);
    expect(dump).not.toContain(token);
    const consumed = await repo.consume(purpose, token);
    expect(consumed).toMatchObject({ id: verificationToken.id, userId, purpose });
    expect(consumed.consumedAt).toBeInstanceOf(Date);
  });

  test('concurrent consumes: exactly one wins, the others learn it was consumed', async () => {
    const { token } = await repo.create(userId, 'password_reset');
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => repo.consume('password_reset', token)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const reasons = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as TokenError).reason] : []));
    expect(reasons).toEqual(Array(49).fill('consumed'));
  });

  test('concurrent creates for one user and purpose leave exactly one live token, the one a returned link carries', async ({ postgres: h }) => {
    // Several rounds on fresh users: one round can pass by luck of scheduling, five in a row of eight truly parallel
    // requests (each its own pooled connection and transaction) do not, with the former delete-then-insert.
    for (let round = 0; round < 5; round++) {
      const user = await h.user();
      const created = await Promise.all(Array.from({ length: 8 }, () => repo.create(user, 'magic_link')));
      const live = await h.postgres.ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM verification_tokens WHERE user_id = ${user} AND purpose = 'magic_link' AND consumed_at IS NULL`);
      expect({ round, live }).toEqual({ round, live: 1 });
      const outcomes = await Promise.allSettled(created.map((c) => repo.consume('magic_link', c.token)));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      expect(outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as TokenError).reason] : []))).toEqual(Array(7).fill('invalid'));
    }
  });

  test('refuses expired, unknown and wrong-purpose tokens; a new token supersedes the old one', async ({ postgres: h }) => {
    const expired = await repo.create(userId, 'magic_link');
    await h.postgres.ownerPool.query(
      sql.unsafe`UPDATE verification_tokens SET expires_at = now() - interval '1 second' WHERE id = ${expired.verificationToken.id}`,
    );
    await expect(repo.consume('magic_link', expired.token)).rejects.toMatchObject({ reason: 'expired' });
    await expect(repo.consume('magic_link', 'x'.repeat(43))).rejects.toMatchObject({ reason: 'invalid' });
    const reset = await repo.create(userId, 'password_reset');
    await expect(repo.consume('magic_link', reset.token)).rejects.toMatchObject({ reason: 'invalid' });
    const newer = await repo.create(userId, 'password_reset');
    await expect(repo.consume('password_reset', reset.token)).rejects.toMatchObject({ reason: 'invalid' });
    await expect(repo.consume('password_reset', newer.token)).resolves.toMatchObject({ userId });
    expect(await repo.deleteExpiredOlderThan(0)).toBeGreaterThanOrEqual(1);
  });

  test('validates input before SQL', async () => {
    await expect(repo.create('not-a-uuid', 'magic_link')).rejects.toMatchObject({ fields: ['userId'] });
    await expect(repo.create(userId, 'sms' as VerificationPurpose)).rejects.toMatchObject({ fields: ['purpose'] });
    await expect(repo.consume('magic_link', '')).rejects.toBeInstanceOf(ValidationError);
    await expect(repo.consume('magic_link', 'y'.repeat(513))).rejects.toMatchObject({ fields: ['token'] });
    await expect(repo.create(randomUUID(), 'magic_link')).rejects.toBeInstanceOf(ConflictError);
  });
});
