import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { ConflictError } from '../../../../src/errors.js';
import { PasswordHistoryRepository } from '../../../../src/postgres/repositories/password-history-repository.js';
import { PasswordHasher } from '../../../../src/security/password-hasher.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

describe.skipIf(!requireStores('postgres'))('PasswordHistoryRepository', () => {
  let history: PasswordHistoryRepository;
  const hasher = new PasswordHasher({ auth: { bcryptCost: 4 } });

  test.beforeAll(async ({ postgres: h }) => {
    history = h.platform.resolve(PasswordHistoryRepository);
  });

  test('keeps the newest N hashes, newest first, per user', async ({ postgres: h }) => {
    const userId = await h.user();
    const other = await h.user();
    const hashes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const hash = await hasher.hash(`password-${i}`);
      hashes.push(hash);
      await history.add(userId, hash, 4);
    }
    await history.add(other, await hasher.hash('other'), 4);
    expect(await history.recent(userId, 24)).toEqual(hashes.slice(2).reverse());
    expect(await history.recent(userId, 2)).toEqual(hashes.slice(4).reverse());
    expect(await history.recent(userId, 0)).toEqual([]);
    expect(await history.recent(other, 24)).toHaveLength(1);
    const reused = await Promise.all((await history.recent(userId, 4)).map((h) => hasher.verify('password-3', h)));
    expect(reused.some(Boolean)).toBe(true);
  });

  test('validates input before SQL', async ({ postgres: h }) => {
    const userId = await h.user();
    await expect(history.add(userId, 'plaintext-password')).rejects.toMatchObject({ fields: ['passwordHash'] });
    await expect(history.add('x', await hasher.hash('a'))).rejects.toMatchObject({ fields: ['userId'] });
    await expect(history.recent(userId, 25)).rejects.toMatchObject({ fields: ['limit'] });
    await expect(history.add(randomUUID(), await hasher.hash('a'))).rejects.toBeInstanceOf(ConflictError);
  });
});
