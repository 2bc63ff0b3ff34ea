import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { ConflictError, InvalidMfaCodeError, NotFoundError, ValidationError } from '../../../src/errors.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { MfaService } from '../../../src/flows/auth/mfa-service.js';
import { MfaManagement } from '../../../src/flows/auth/mfa-management.js';
import { MfaEnrollment } from '../../../src/flows/auth/mfa-enrollment.js';
import { MfaRepository } from '../../../src/postgres/repositories/mfa-repository.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { TOTP_PERIOD_SECONDS, Totp } from '../../../src/security/totp.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const client = { ip: '203.0.113.8', userAgent: 'vitest' };
const STEP_MS = TOTP_PERIOD_SECONDS * 1000;

describe.skipIf(!requireStores('postgres', 'redis'))('MFA management (signed in)', () => {
  let mfa: MfaService;
  let management: MfaManagement;
  let enrollment: MfaEnrollment;
  let repo: MfaRepository;
  const totp = new Totp();

  test.beforeAll(async ({ flow: h }) => {
    mfa = h.platform.resolve(MfaService);
    management = h.platform.resolve(MfaManagement);
    enrollment = h.platform.resolve(MfaEnrollment);
    repo = h.platform.resolve(MfaRepository);
  });

  /** A signed-in user with TOTP enabled; the current step is spent by the confirmation. */
  async function enrolledUser(h: FlowHarness) {
    const u = await h.user();
    const session = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    const { secret } = await enrollment.beginTotpEnrollment(session.context);
    const { recoveryCodes } = await enrollment.confirmTotpEnrollment(session.context, await totp.generate(secret));
    const codeAt = (steps: number) => totp.generate(secret, new Date(Date.now() + steps * STEP_MS));
    const wrongCode = async () => String((Number(await codeAt(1)) + 3) % 1_000_000).padStart(6, '0');
    return { ...u, ctx: session.context, recoveryCodes, codeAt, wrongCode };
  }

  describe('disableTotp', () => {
    test('requires a valid code, then removes the secret and the recovery codes', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      await expect(management.disableTotp(u.ctx, { code: await u.wrongCode() })).rejects.toBeInstanceOf(InvalidMfaCodeError);
      expect(await mfa.isEnabled(u.userId)).toBe(true);

      await expect(management.disableTotp(u.ctx, { code: await u.codeAt(1) })).resolves.toMatchObject({ disabledAt: expect.any(Date) });
      expect(await mfa.isEnabled(u.userId)).toBe(false);
      expect(await repo.status(u.userId)).toMatchObject({ enrolled: false, remainingRecoveryCodes: 0 });
      expect(await repo.useRecoveryCode(u.userId, u.recoveryCodes[0]!)).toBe(false);
      // The password alone signs in again.
      expect((await h.signIn.login(u.email, PASSWORD, client)).status).toBe('signed_in');
      const events = await h.auditEvents(u.ctx);
      expect(events.find((e) => e.eventType === 'auth.mfa.disabled')).toMatchObject({ actorUserId: u.userId, details: { method: 'totp' } });
      expect(events.some((e) => e.eventType === 'auth.mfa.verification_failed')).toBe(true);
      // Nothing left to disable.
      await expect(management.disableTotp(u.ctx, { code: await u.codeAt(1) })).rejects.toBeInstanceOf(NotFoundError);
    });

    test('accepts an unused recovery code instead of a TOTP code', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      await management.disableTotp(u.ctx, { recoveryCode: u.recoveryCodes[3]! });
      expect(await repo.status(u.userId)).toMatchObject({ enrolled: false, remainingRecoveryCodes: 0 });
    });

    test('refuses a replayed code', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      // The confirmation spent the current step.
      await expect(management.disableTotp(u.ctx, { code: await u.codeAt(0) })).rejects.toMatchObject({ reason: 'replayed' });
      expect(await mfa.isEnabled(u.userId)).toBe(true);
    });

    test('refuses when the organization requires MFA', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      await h.platform.resolve(SecuritySettingsRepository).update(u.ctx, { mfaRequired: true });
      const error = await management.disableTotp(u.ctx, { code: await u.codeAt(1) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({ constraint: 'mfa_required_by_organization' });
      expect(await mfa.isEnabled(u.userId)).toBe(true);
      expect((await repo.status(u.userId)).remainingRecoveryCodes).toBe(10);
    });

    test('validates the inputs naming the field', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      const error = await management.disableTotp(u.ctx, { code: 'abc' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).fields[0]).toMatch(/^proof/);
      // A copy of a context (here with another user id) is not a context: refused before anything is read.
      await expect(management.disableTotp({ ...u.ctx, userId: 'nope' }, { code: '123456' })).rejects.toMatchObject({
        code: 'TENANT_ACCESS_DENIED',
        permission: 'own_account',
      });
    });
  });

  describe('regenerateRecoveryCodes', () => {
    test('requires a valid TOTP code, invalidates the old codes and returns new ones once', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      await expect(management.regenerateRecoveryCodes(u.ctx, await u.wrongCode())).rejects.toBeInstanceOf(InvalidMfaCodeError);
      expect((await repo.status(u.userId)).remainingRecoveryCodes).toBe(10);

      const { recoveryCodes } = await management.regenerateRecoveryCodes(u.ctx, await u.codeAt(1));
      expect(recoveryCodes).toHaveLength(10);
      expect(recoveryCodes.filter((c) => u.recoveryCodes.includes(c))).toHaveLength(0);
      expect(await repo.useRecoveryCode(u.userId, u.recoveryCodes[0]!)).toBe(false);
      expect((await repo.status(u.userId)).remainingRecoveryCodes).toBe(10);

      // A new code completes a sign-in; an old one does not.
      const challenge = await h.signIn.login(u.email, PASSWORD, client);
      if (challenge.status !== 'mfa_required') throw new Error(`expected mfa_required, got ${challenge.status}`);
      await expect(h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { recoveryCode: u.recoveryCodes[1]! }, client)).rejects.toMatchObject({
        reason: 'invalid',
      });
      await expect(h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { recoveryCode: recoveryCodes[0]! }, client)).resolves.toMatchObject({
        status: 'signed_in',
      });
      const events = await h.auditEvents(u.ctx);
      expect(events.some((e) => e.eventType === 'auth.mfa.recovery_codes_regenerated' && e.actorUserId === u.userId)).toBe(true);
    });

    test('refuses a recovery code, a replayed code, and a user without MFA', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      await expect(management.regenerateRecoveryCodes(u.ctx, u.recoveryCodes[0]!)).rejects.toMatchObject({ fields: ['code'] });
      await expect(management.regenerateRecoveryCodes(u.ctx, await u.codeAt(0))).rejects.toMatchObject({ reason: 'replayed' });
      const plain = await h.user();
      const session = expectSignedIn(await h.signIn.login(plain.email, PASSWORD, client));
      await expect(management.regenerateRecoveryCodes(session.context, '123456')).rejects.toBeInstanceOf(NotFoundError);
    });
  });
});
