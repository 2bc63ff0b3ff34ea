import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect, vi } from 'vitest';
import { z } from 'zod';
import { InvalidCredentialsError, PlatformError, TokenError } from '../../../src/errors.js';
import { EmailVerification } from '../../../src/flows/auth/email-verification.js';
import type { PasswordChangeRequiredResult } from '../../../src/flows/auth/password-change-tickets.js';
import { PasswordReset } from '../../../src/flows/auth/password-reset.js';
import { PasswordResetRequest } from '../../../src/flows/auth/password-reset-request.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { AuditRepository } from '../../../src/postgres/repositories/audit-repository.js';
import { hashToken } from '../../../src/security/secret-token.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import type { FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const client = { ip: '203.0.113.41', userAgent: 'vitest' };
const NEW_PASSWORD = 'Copper-Harbour-63-lantern';

const lastLink = (h: FlowHarness, userId: string, kind: 'email_verification' | 'password_reset') =>
  h.notifier.sent.filter((m) => m.userId === userId && m.kind === kind).at(-1)!.token;

async function pendingUserWithLink(h: FlowHarness) {
  const u = await h.user({ verified: false });
  await h.platform.resolve(EmailVerification).requestEmailVerification(u.userId);
  return { ...u, token: lastLink(h, u.userId, 'email_verification') };
}

/**
 * A one-time token is spent exactly when its effect commits. When the effect fails — here its own UPDATE of the
 * users row refused by a trigger, or its audit event refused — the token stays live and the account stays as it
 * was, so the same link (or ticket) works on the retry. On the former code (token consumed in a transaction of its
 * own, then the effect) each of these faults left the token spent and the effect unmade.
 */
describe.skipIf(!requireStores('postgres', 'redis'))('a one-time token is spent in the transaction of its effect', () => {
  let owner: PostgresConnection['ownerPool'];

  test.beforeAll(async ({ flow: h }) => {
    owner = h.platform.resolve(PostgresConnection).ownerPool;
  });

  /**
   * While `attempt` runs, an UPDATE of the user's row that changes `column` fails (a BEFORE trigger raising
   * `raise_exception`): the fault strikes inside the effect's own statement, whichever code path issues it.
   */
  async function withRefusedUpdates(userId: string, column: 'status' | 'password_hash', attempt: () => Promise<void>): Promise<void> {
    const name = sql.identifier([`fault_${randomUUID().replaceAll('-', '')}`]);
    const col = sql.identifier([column]);
    await owner.query(sql.unsafe`
      CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`);
    await owner.query(sql.unsafe`
      CREATE TRIGGER ${name} BEFORE UPDATE ON users FOR EACH ROW
      WHEN (NEW.id = ${sql.literalValue(userId)}::uuid AND OLD.${col} IS DISTINCT FROM NEW.${col}) EXECUTE FUNCTION ${name}()`);
    try {
      await attempt();
    } finally {
      await owner.query(sql.unsafe`DROP TRIGGER ${name} ON users`);
      await owner.query(sql.unsafe`DROP FUNCTION ${name}()`);
    }
  }

  const tokenSpent = async (tokenHash: Buffer, table: 'verification_tokens' | 'mfa_challenges') =>
    owner.oneFirst(sql.type(z.object({ spent: z.boolean() }))`
      SELECT consumed_at IS NOT NULL AS spent FROM ${sql.identifier([table])} WHERE token_hash = ${sql.binary(tokenHash)}`);
  const userRow = (userId: string) =>
    owner.one(sql.type(z.object({ status: z.string(), verified: z.boolean(), password_hash: z.string() }))`
      SELECT status::text AS status, email_verified_at IS NOT NULL AS verified, password_hash FROM users WHERE id = ${userId}`);

  test('email verification: the activation failing leaves the token live and the account pending; the same link then verifies', async ({ flow: h }) => {
    const verification = h.platform.resolve(EmailVerification);
    const u = await pendingUserWithLink(h);
    await withRefusedUpdates(u.userId, 'status', () => expect(verification.verifyEmail(u.token)).rejects.toBeInstanceOf(PlatformError));
    expect(await tokenSpent(hashToken(u.token), 'verification_tokens')).toBe(false);
    expect(await userRow(u.userId)).toMatchObject({ status: 'pending_verification', verified: false });

    await expect(verification.verifyEmail(u.token)).resolves.toMatchObject({ id: u.userId, status: 'active' });
    expect(await tokenSpent(hashToken(u.token), 'verification_tokens')).toBe(true);
  });

  test('email verification: the auth.email.verified event failing to insert rolls back the activation and the consume', async ({ flow: h }) => {
    const verification = h.platform.resolve(EmailVerification);
    const u = await pendingUserWithLink(h);
    const spy = vi
      .spyOn(h.platform.resolve(AuditRepository), 'appendWithin')
      .mockRejectedValueOnce(new PlatformError('POSTGRES_ERROR', 'audit insert failed (injected)'));
    try {
      await expect(verification.verifyEmail(u.token)).rejects.toThrow('audit insert failed (injected)');
    } finally {
      spy.mockRestore();
    }
    expect(await tokenSpent(hashToken(u.token), 'verification_tokens')).toBe(false);
    expect(await userRow(u.userId)).toMatchObject({ status: 'pending_verification', verified: false });
    await expect(verification.verifyEmail(u.token)).resolves.toMatchObject({ status: 'active' });
  });

  test('email verification: a suspended account stays suspended (the token is spent, the event written)', async ({ flow: h }) => {
    const u = await pendingUserWithLink(h);
    await owner.query(sql.unsafe`UPDATE users SET status = 'suspended' WHERE id = ${u.userId}`);
    await expect(h.platform.resolve(EmailVerification).verifyEmail(u.token)).resolves.toMatchObject({ status: 'suspended', emailVerifiedAt: null });
    expect(await userRow(u.userId)).toMatchObject({ status: 'suspended', verified: false });
    expect(await tokenSpent(hashToken(u.token), 'verification_tokens')).toBe(true);
    const events = await owner.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM audit_log WHERE event_type = 'auth.email.verified' AND actor_user_id = ${u.userId}`);
    expect(events).toBe(1);
  });

  test('password reset: the password update failing leaves the reset link live and the old password; the same link then resets', async ({ flow: h }) => {
    const u = await h.user();
    const resetRequest = h.platform.resolve(PasswordResetRequest);
    await resetRequest.requestPasswordReset(u.email);
    await resetRequest.settled();
    const token = lastLink(h, u.userId, 'password_reset');
    const before = await userRow(u.userId);
    await withRefusedUpdates(u.userId, 'password_hash', () =>
      expect(h.platform.resolve(PasswordReset).resetPassword(token, NEW_PASSWORD)).rejects.toBeInstanceOf(PlatformError),
    );
    expect(await tokenSpent(hashToken(token), 'verification_tokens')).toBe(false);
    expect((await userRow(u.userId)).password_hash).toBe(before.password_hash);

    await expect(h.platform.resolve(PasswordReset).resetPassword(token, NEW_PASSWORD)).resolves.toMatchObject({ userId: u.userId });
    expect(await tokenSpent(hashToken(token), 'verification_tokens')).toBe(true);
    expect((await h.signIn.login(u.email, NEW_PASSWORD, client)).status).toBe('signed_in');
  });

  test('required password change: the password update failing leaves the ticket open; the same ticket then completes', async ({ flow: h }) => {
    const u = await h.user();
    await owner.query(sql.unsafe`UPDATE users SET must_change_password = true WHERE id = ${u.userId}`);
    const { passwordChangeTicket } = (await h.signIn.login(u.email, PASSWORD, client)) as PasswordChangeRequiredResult;
    await withRefusedUpdates(u.userId, 'password_hash', () =>
      expect(h.passwordChange.completeRequiredChange(passwordChangeTicket, NEW_PASSWORD, client)).rejects.toBeInstanceOf(PlatformError),
    );
    expect(await tokenSpent(hashToken(passwordChangeTicket), 'mfa_challenges')).toBe(false);
    await expect(h.passwordChange.completeRequiredChange(passwordChangeTicket, NEW_PASSWORD, client)).resolves.toMatchObject({
      status: 'signed_in',
      user: { id: u.userId, mustChangePassword: false },
    });
    expect(await tokenSpent(hashToken(passwordChangeTicket), 'mfa_challenges')).toBe(true);
  });

  // Single use holds with the consume moved into the effect's transaction (the reset's token is only read before bcrypt).
  test('one link, two uses at once: one succeeds, the other is refused as consumed and changes nothing', async ({ flow: h }) => {
    const verification = h.platform.resolve(EmailVerification);
    const u = await pendingUserWithLink(h);
    const verified = await Promise.allSettled([verification.verifyEmail(u.token), verification.verifyEmail(u.token)]);
    expect(verified.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(verified.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.objectContaining({ reason: 'consumed' }) });
    expect(
      await owner.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM audit_log WHERE event_type = 'auth.email.verified' AND actor_user_id = ${u.userId}`),
    ).toBe(1);

    const resetRequest = h.platform.resolve(PasswordResetRequest);
    await resetRequest.requestPasswordReset(u.email);
    await resetRequest.settled();
    const token = lastLink(h, u.userId, 'password_reset');
    const passwords = [NEW_PASSWORD, 'Second-Racer-Meadow-74'];
    const reset = await Promise.allSettled(passwords.map((p) => h.platform.resolve(PasswordReset).resetPassword(token, p)));
    const winner = reset.findIndex((r) => r.status === 'fulfilled');
    expect(reset.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = reset[1 - winner] as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(TokenError);
    expect(refused.reason).toMatchObject({ reason: 'consumed' });
    expect((await h.signIn.login(u.email, passwords[winner]!, client)).status).toBe('signed_in');
    await expect(h.signIn.login(u.email, passwords[1 - winner]!, client)).rejects.toBeInstanceOf(InvalidCredentialsError);
  });
});
