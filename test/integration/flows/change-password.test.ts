import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { InvalidCredentialsError, TokenError, ValidationError } from '../../../src/errors.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const client = { ip: '203.0.113.7', userAgent: 'vitest' };
const NEW_PASSWORD = 'Harbor-Violet-83-meadow';
const THIRD_PASSWORD = 'Copper-Thistle-29-canyon';

describe.skipIf(!requireStores('postgres', 'redis'))('PasswordChange.changePassword', () => {
  let pg: PostgresConnection;

  test.beforeAll(async ({ flow: h }) => {
    pg = h.platform.resolve(PostgresConnection);
  });

  const userRow = (userId: string) =>
    pg.ownerPool.one(sql.type(z.object({ must_change_password: z.boolean(), failed_login_count: z.number() }))`
      SELECT must_change_password, failed_login_count FROM users WHERE id = ${userId}`);

  test('keeps the calling session, revokes every other one, and audits', async ({ flow: h }) => {
    const u = await h.user();
    const [mine, other1, other2] = await Promise.all(
      [1, 2, 3].map(async (d) => expectSignedIn(await h.signIn.login(u.email, PASSWORD, { ...client, deviceId: `d${d}` }))),
    );
    const result = await h.passwordChange.changePassword({ userId: u.userId, sessionId: mine!.sessionId }, PASSWORD, NEW_PASSWORD, client);
    expect(result).toEqual({ revokedSessions: 2 });
    await expect(h.validator.validate({ userId: u.userId, sessionId: mine!.sessionId })).resolves.toMatchObject({ sessionId: mine!.sessionId });
    for (const s of [other1!, other2!]) {
      await expect(h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
      await expect(h.rotation.refresh(s.refreshToken)).rejects.toBeInstanceOf(TokenError);
    }
    await expect(h.signIn.login(u.email, PASSWORD, client)).rejects.toBeInstanceOf(InvalidCredentialsError);
    expect((await h.signIn.login(u.email, NEW_PASSWORD, client)).status).toBe('signed_in');
    const events = await h.auditEvents(mine!.context);
    // The change and each revocation carry their own event, written in their own transaction (issue 16).
    expect(events.find((e) => e.eventType === 'auth.password.changed')).toMatchObject({ actorUserId: u.userId, details: { sessionId: mine!.sessionId } });
    const revoked = events.filter((e) => e.eventType === 'auth.session.revoked' && e.details.reason === 'password_changed').map((e) => e.details.sessionId);
    expect(revoked.sort()).toEqual([other1!.sessionId, other2!.sessionId].sort());
  });

  test('refuses the current password and one from the history', async ({ flow: h }) => {
    const u = await h.user();
    const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    const same = await h.passwordChange.changePassword({ userId: u.userId, sessionId: s.sessionId }, PASSWORD, PASSWORD, client).catch((e: unknown) => e);
    expect(same).toBeInstanceOf(ValidationError);
    expect((same as ValidationError).issues).toContainEqual(expect.objectContaining({ path: 'newPassword', code: 'reused' }));

    await h.passwordChange.changePassword({ userId: u.userId, sessionId: s.sessionId }, PASSWORD, NEW_PASSWORD, client);
    await h.passwordChange.changePassword({ userId: u.userId, sessionId: s.sessionId }, NEW_PASSWORD, THIRD_PASSWORD, client);
    // PASSWORD is now in password_history (default depth 5): reusing it is refused.
    const back = await h.passwordChange.changePassword({ userId: u.userId, sessionId: s.sessionId }, THIRD_PASSWORD, PASSWORD, client).catch((e: unknown) => e);
    expect(back).toBeInstanceOf(ValidationError);
    expect((back as ValidationError).issues).toContainEqual(expect.objectContaining({ path: 'newPassword', code: 'reused' }));
    expect((back as Error).message).not.toContain(PASSWORD);
  });

  test('counts a wrong current password like a failed sign-in', async ({ flow: h }) => {
    const u = await h.user();
    const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    await expect(
      h.passwordChange.changePassword({ userId: u.userId, sessionId: s.sessionId }, 'Wrong-password-123', NEW_PASSWORD, client),
    ).rejects.toBeInstanceOf(InvalidCredentialsError);
    expect((await userRow(u.userId)).failed_login_count).toBe(1);
    // Nothing changed.
    expect((await h.signIn.login(u.email, PASSWORD, client)).status).toBe('signed_in');
  });

  test('applies the strictest policy of the user, names the field, and needs a live session', async ({ flow: h }) => {
    const u = await h.user();
    const owner = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    await h.platform.resolve(SecuritySettingsRepository).update(owner, { passwordMinLength: 30, passwordRequireSymbol: true });
    const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    const weak = await h.passwordChange.changePassword({ userId: u.userId, sessionId: s.sessionId }, PASSWORD, NEW_PASSWORD, client).catch((e: unknown) => e);
    expect(weak).toBeInstanceOf(ValidationError);
    expect((weak as ValidationError).fields).toEqual(['newPassword']);
    expect((weak as ValidationError).issues.map((i) => i.code)).toEqual(expect.arrayContaining(['tooShort']));
    await expect(h.passwordChange.changePassword({ userId: u.userId, sessionId: 'nope' }, PASSWORD, NEW_PASSWORD)).rejects.toMatchObject({
      fields: ['session.sessionId'],
    });

    await h.revoker.logout(s.sessionId);
    await expect(
      h.passwordChange.changePassword({ userId: u.userId, sessionId: s.sessionId }, PASSWORD, 'A-much-longer-passphrase-47-with-symbols!', client),
    ).rejects.toMatchObject({ reason: 'revoked' });
  });

  test('clears must_change_password', async ({ flow: h }) => {
    const u = await h.user();
    const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    await pg.ownerPool.query(sql.unsafe`UPDATE users SET must_change_password = true WHERE id = ${u.userId}`);
    await expect(h.signIn.login(u.email, PASSWORD, client)).resolves.toMatchObject({ status: 'password_change_required' });
    await h.passwordChange.changePassword({ userId: u.userId, sessionId: s.sessionId }, PASSWORD, NEW_PASSWORD, client);
    expect((await userRow(u.userId)).must_change_password).toBe(false);
    expect((await h.signIn.login(u.email, NEW_PASSWORD, client)).status).toBe('signed_in');
  });
});
