import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { InvalidCredentialsError, ValidationError } from '../../../src/errors.js';
import { EmailChangeService } from '../../../src/flows/auth/email-change-service.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { DEFAULT_IDENTITY_FLOW_OPTIONS } from '../../../src/identity-flow-options.js';
import { SessionRevoker } from '../../../src/flows/auth/session-revoker.js';
import type { Logger } from '../../../src/logger.js';
import { EmailChangeRepository } from '../../../src/postgres/repositories/email-change-repository.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { RateLimiter } from '../../../src/redis/repositories/rate-limiter.js';
import { IDENTITY_NOTIFIER, LOGGER } from '../../../src/tokens.js';
import { CapturingIdentityNotifier } from '../../support/auth-fixtures.js';
import { ownerQuery as ownerQueryOn } from '../../support/postgres-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { test } from '../../support/fixtures.js';

// Expected behaviour: OWASP ASVS v4.0.3 2.5.x / 3.x — an address change is confirmed through
// the new channel, the old channel is told and can object; tokens are single use and expire.
describe.skipIf(!requireStores('postgres', 'redis'))('EmailChangeService', () => {
  let changes: EmailChangeService;
  const mail = new CapturingIdentityNotifier();

  test.beforeAll(async ({ flow: h }) => {
    h.platform.container.registerInstance(IDENTITY_NOTIFIER, mail);
    changes = h.platform.resolve(EmailChangeService);
  });

  const newAddress = (): string => `new-${randomUUID().slice(0, 8)}@example.test`;
  const linksFor = (userId: string, kind: 'confirm_new' | 'confirm_old' | 'revert') => mail.emailChanges.filter((m) => m.userId === userId && m.kind === kind);

  async function signedIn(h: FlowHarness) {
    const u = await h.user();
    const session = expectSignedIn(await h.signIn.login(u.email, PASSWORD, {}));
    return { ...u, session, ctx: session.context };
  }

  const ownerQuery = (h: FlowHarness, text: string, values: unknown[]) => ownerQueryOn(h.t.databaseUrl, text, values);

  test('changes the address only after both mailboxes confirm; sessions stay; the old address gets a revert link', async ({ flow: h }) => {
    const u = await signedIn(h);
    const target = newAddress();
    const requested = await changes.requestChange(u.ctx, target);
    expect(requested.confirmFromOldAddress).toBe(true);
    const [toNew] = linksFor(u.userId, 'confirm_new');
    const [toOld] = linksFor(u.userId, 'confirm_old');
    expect(toNew!.email).toBe(target);
    expect(toOld!.email).toBe(u.email);

    expect(await changes.confirm(toNew!.token)).toEqual({ status: 'pending', newEmail: target });
    expect((await h.platform.resolve(UserRepository).getById(u.userId))!.email).toBe(u.email);
    await expect(changes.confirm(toNew!.token)).rejects.toMatchObject({ reason: 'consumed' });

    expect(await changes.confirm(toOld!.token)).toEqual({ status: 'completed', newEmail: target });
    expect((await h.platform.resolve(UserRepository).getById(u.userId))!.email).toBe(target);
    // Sessions kept; the new address signs in, the old one no longer does.
    expect((await h.validator.validate({ userId: u.userId, sessionId: u.session.sessionId })).userId).toBe(u.userId);
    expectSignedIn(await h.signIn.login(target, PASSWORD, {}));
    await expect(h.signIn.login(u.email, PASSWORD, {})).rejects.toBeInstanceOf(InvalidCredentialsError);
    const [revert] = linksFor(u.userId, 'revert');
    expect(revert!.email).toBe(u.email);
    expect((await h.auditEvents(u.ctx)).map((e) => e.eventType)).toContain('auth.email_change.requested');
    expect(
      await ownerQuery(h, `SELECT count(*)::int AS n FROM audit_log WHERE actor_user_id = $1 AND event_type = 'auth.email_change.completed'`, [u.userId]),
    ).toEqual([{ n: 1 }]);
  });

  test('reverts from the old address within the window: address restored, every session revoked; once only', async ({ flow: h }) => {
    const u = await signedIn(h);
    const target = newAddress();
    await changes.requestChange(u.ctx, target);
    await changes.confirm(linksFor(u.userId, 'confirm_new')[0]!.token);
    await changes.confirm(linksFor(u.userId, 'confirm_old')[0]!.token);
    const { token } = linksFor(u.userId, 'revert')[0]!;
    const reverted = await changes.revert(token);
    expect(reverted.restoredEmail).toBe(u.email);
    expect(reverted.revokedSessions).toBeGreaterThanOrEqual(1);
    // The revocation commits with the revert (one transaction id, PostgreSQL 15 manual, "System Columns": xmin).
    const xmins = await ownerQuery(
      h,
      `SELECT DISTINCT xmin::text AS x FROM (SELECT xmin FROM sessions WHERE id = $1 UNION ALL SELECT xmin FROM email_change_requests WHERE user_id = $2 AND reverted_at IS NOT NULL) t`,
      [u.session.sessionId, u.userId],
    );
    expect(xmins).toHaveLength(1);
    expect((await h.platform.resolve(UserRepository).getById(u.userId))!.email).toBe(u.email);
    await expect(h.validator.validate({ userId: u.userId, sessionId: u.session.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
    await expect(changes.revert(token)).rejects.toMatchObject({ reason: 'consumed' });
  });

  test('refuses a revert after its window and a confirmation after expiry', async ({ flow: h }) => {
    const u = await signedIn(h);
    await changes.requestChange(u.ctx, newAddress());
    await ownerQuery(h, `UPDATE email_change_requests SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [u.userId]);
    await expect(changes.confirm(linksFor(u.userId, 'confirm_new')[0]!.token)).rejects.toMatchObject({ reason: 'expired' });

    const v = await signedIn(h);
    await changes.requestChange(v.ctx, newAddress());
    await changes.confirm(linksFor(v.userId, 'confirm_new')[0]!.token);
    await changes.confirm(linksFor(v.userId, 'confirm_old')[0]!.token);
    await ownerQuery(h, `UPDATE email_change_requests SET revert_expires_at = now() - interval '1 second' WHERE user_id = $1`, [v.userId]);
    await expect(changes.revert(linksFor(v.userId, 'revert')[0]!.token)).rejects.toMatchObject({ reason: 'expired' });
  });

  test('answers the same for an address another account holds, and mails nothing to it', async ({ flow: h }) => {
    const u = await signedIn(h);
    const other = await h.user();
    const free = await changes.requestChange(u.ctx, newAddress());
    const taken = await changes.requestChange(u.ctx, other.email);
    expect(Object.keys(taken).sort()).toEqual(Object.keys(free).sort());
    expect(mail.emailChanges.filter((m) => m.email === other.email)).toEqual([]);
    // The earlier open request was cancelled with it.
    await expect(changes.confirm(linksFor(u.userId, 'confirm_new')[0]!.token)).rejects.toMatchObject({ reason: 'consumed' });
  });

  test('a new request or a cancel ends the previous links; the current address is refused', async ({ flow: h }) => {
    const u = await signedIn(h);
    await changes.requestChange(u.ctx, newAddress());
    await changes.requestChange(u.ctx, newAddress());
    const [first, second] = linksFor(u.userId, 'confirm_new');
    await expect(changes.confirm(first!.token)).rejects.toMatchObject({ reason: 'consumed' });
    expect(await changes.pending(u.ctx)).toMatchObject({ newEmail: second!.newEmail });
    expect(await changes.cancel(u.ctx)).toBe(true);
    await expect(changes.confirm(second!.token)).rejects.toMatchObject({ reason: 'consumed' });
    await expect(changes.requestChange(u.ctx, u.email.toUpperCase())).rejects.toBeInstanceOf(ValidationError);
  });

  test('with confirmFromOldAddress off, the new mailbox alone completes the change (and the old one is still told, with a revert link)', async ({
    flow: h,
  }) => {
    const single = new EmailChangeService(
      h.platform.resolve(EmailChangeRepository),
      h.platform.resolve(UserRepository),
      h.platform.resolve(SessionRevoker),
      h.platform.resolve(RateLimiter),
      mail,
      { ...DEFAULT_IDENTITY_FLOW_OPTIONS, emailChange: { ...DEFAULT_IDENTITY_FLOW_OPTIONS.emailChange, confirmFromOldAddress: false } },
      h.platform.resolve<Logger>(LOGGER),
    );
    const u = await signedIn(h);
    const target = newAddress();
    await single.requestChange(u.ctx, target);
    expect(linksFor(u.userId, 'confirm_old')).toEqual([]);
    expect(await single.confirm(linksFor(u.userId, 'confirm_new')[0]!.token)).toEqual({ status: 'completed', newEmail: target });
    expect(linksFor(u.userId, 'revert')[0]!.email).toBe(u.email);
  });
});
