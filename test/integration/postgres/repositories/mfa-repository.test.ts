import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../../../src/config.js';
import { ConflictError, CryptoError, NotFoundError } from '../../../../src/errors.js';
import { createPlatform } from '../../../../src/platform.js';
import { MfaRepository } from '../../../../src/postgres/repositories/mfa-repository.js';
import { generateRecoveryCodes } from '../../../../src/security/recovery-codes.js';
import { SecretBox } from '../../../../src/security/secret-box.js';
import { Totp } from '../../../../src/security/totp.js';
import { type PostgresHarness } from '../../../support/postgres-harness.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

const secretRow = z.object({ totp_secret_encrypted: z.instanceof(Buffer) });

describe.skipIf(!requireStores('postgres'))('MfaRepository', () => {
  let mfa: MfaRepository;
  const totp = new Totp();

  const raw = (h: PostgresHarness, userId: string) =>
    h.postgres.ownerPool.one(sql.type(secretRow)`SELECT totp_secret_encrypted FROM user_mfa WHERE user_id = ${userId}`);

  test.beforeAll(async ({ postgres: h }) => {
    mfa = h.platform.resolve(MfaRepository);
  });

  test('enrols with an encrypted secret, enables after the first code, refuses replays', async ({ postgres: h }) => {
    const userId = await h.user();
    const secret = totp.generateSecret();
    expect(await mfa.status(userId)).toEqual({ enrolled: false, enabledAt: null, lastUsedStep: null, remainingRecoveryCodes: 0 });
    await mfa.enroll(userId, secret);
    const stored = await raw(h, userId);
    expect(stored.totp_secret_encrypted.toString('latin1')).not.toContain(secret);
    const loaded = await mfa.getSecret(userId);
    expect(loaded).toEqual({ secret, enabledAt: null, lastUsedStep: null });

    const check = await totp.verify(secret, await totp.generate(secret));
    if (!check.valid) throw new Error('code should verify');
    const enabledAt = await mfa.enable(userId, check.timeStep);
    expect(enabledAt).toBeInstanceOf(Date);
    expect((await mfa.status(userId)).lastUsedStep).toBe(check.timeStep);
    // The same step cannot be used again, even by racing logins.
    const races = await Promise.all(Array.from({ length: 10 }, () => mfa.recordTimeStep(userId, check.timeStep + 1)));
    expect(races.filter(Boolean)).toHaveLength(1);
    expect(await mfa.recordTimeStep(userId, check.timeStep)).toBe(false);
    await expect(mfa.enroll(userId, totp.generateSecret())).rejects.toMatchObject({ constraint: 'mfa_already_enabled' });
    await expect(mfa.enroll(userId, totp.generateSecret())).rejects.toBeInstanceOf(ConflictError);
  });

  test('recovery codes are hashed and single-use under concurrency', async ({ postgres: h }) => {
    const userId = await h.user();
    await mfa.enroll(userId, totp.generateSecret());
    const { codes, hashes } = generateRecoveryCodes(10);
    await mfa.replaceRecoveryCodes(userId, hashes);
    const dump = await h.postgres.ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT coalesce(string_agg(encode(code_hash, 'escape'), ''), '') AS t FROM mfa_recovery_codes WHERE user_id = ${userId}`);
    expect(codes.some((c) => dump.includes(c))).toBe(false);
    const code = codes[0] ?? '';
    const results = await Promise.all(Array.from({ length: 20 }, () => mfa.useRecoveryCode(userId, code.toUpperCase())));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await mfa.status(userId)).remainingRecoveryCodes).toBe(9);
    expect(await mfa.useRecoveryCode(userId, '0000-0000-0000-0000')).toBe(false);
    await expect(mfa.useRecoveryCode(userId, 'not a code')).rejects.toMatchObject({ fields: ['recoveryCode'] });
    // Another user's code does not work for this one.
    const other = await h.user();
    const otherCodes = generateRecoveryCodes(1);
    await mfa.replaceRecoveryCodes(other, otherCodes.hashes);
    expect(await mfa.useRecoveryCode(userId, otherCodes.codes[0] ?? '')).toBe(false);

    expect(await mfa.disable(userId)).toBe(true);
    expect(await mfa.status(userId)).toEqual({ enrolled: false, enabledAt: null, lastUsedStep: null, remainingRecoveryCodes: 0 });
    expect(await mfa.disable(userId)).toBe(false);
    await expect(mfa.enable(userId, 1)).rejects.toBeInstanceOf(NotFoundError);
  });

  test('binds the secret to its user (AAD) and re-encrypts to the active key', async ({ postgres: h }) => {
    const a = await h.user();
    const b = await h.user();
    await mfa.enroll(a, totp.generateSecret());
    await mfa.enroll(b, totp.generateSecret());
    await h.postgres.ownerPool.query(
      sql.unsafe`UPDATE user_mfa SET totp_secret_encrypted = ${sql.binary((await raw(h, a)).totp_secret_encrypted)} WHERE user_id = ${b}`,
    );
    await expect(mfa.getSecret(b)).rejects.toBeInstanceOf(CryptoError);

    const c = await h.user();
    const secret = totp.generateSecret();
    await mfa.enroll(c, secret);
    const ring = `${h.t.env.PLATFORM_ENCRYPTION_KEYS ?? ''},k2:${randomBytes(32).toString('base64')}`;
    const rotated = createPlatform(loadConfig({ ...h.t.env, PLATFORM_ENCRYPTION_KEYS: ring, PLATFORM_ENCRYPTION_ACTIVE_KEY_ID: 'k2' }), {
      stores: ['postgres'],
    });
    await rotated.start();
    try {
      const result = await rotated.resolve(MfaRepository).reencryptAll();
      expect(result.failedIds).toEqual([b]);
      expect(result.rewritten).toBeGreaterThanOrEqual(2);
      expect(rotated.resolve(SecretBox).keyIdOf((await raw(h, c)).totp_secret_encrypted)).toBe('k2');
      expect((await rotated.resolve(MfaRepository).getSecret(c))?.secret).toBe(secret);
    } finally {
      await rotated.stop();
    }
  });

  test('validates input before SQL', async ({ postgres: h }) => {
    const userId = await h.user();
    await expect(mfa.enroll(userId, 'too-short')).rejects.toMatchObject({ fields: ['secret'] });
    await expect(mfa.enroll('x', totp.generateSecret())).rejects.toMatchObject({ fields: ['userId'] });
    await expect(mfa.recordTimeStep(userId, -1)).rejects.toMatchObject({ fields: ['timeStep'] });
    await expect(mfa.replaceRecoveryCodes(userId, [Buffer.alloc(5)])).rejects.toMatchObject({ fields: ['hashes.0'] });
  });
});
