import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AccountStateError, ConflictError } from '../../../src/errors.js';
import { OAuthSignIn } from '../../../src/flows/oauth-sign-in.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { IdentityRepository } from '../../../src/postgres/repositories/identity-repository.js';
import { hasStores, startFlowHarness, type FlowHarness } from './flow-test-platform.js';

describe.skipIf(!hasStores)('OAuthSignIn', () => {
  let h: FlowHarness;
  let oauth: OAuthSignIn;
  let identities: IdentityRepository;

  beforeAll(async () => {
    h = await startFlowHarness();
    oauth = h.platform.resolve(OAuthSignIn);
    identities = h.platform.resolve(IdentityRepository);
  });
  afterAll(async () => h?.stop());

  const sub = () => `sub-${randomUUID()}`;

  it('creates an account with a personal organization, then signs the same identity in', async () => {
    const email = `new-${randomUUID().slice(0, 8)}@example.test`;
    const providerUserId = sub();
    const created = await oauth.signIn({ provider: 'google', providerUserId, email, emailVerified: true, displayName: 'Ada', accessToken: 'ya29.secret-access', refreshToken: '1//secret-refresh' });
    expect(created).toMatchObject({ outcome: 'created', user: { email, status: 'active' }, organization: { role: 'owner' } });
    expect((await h.auth.validate({ userId: created.user.id, sessionId: created.sessionId })).context.role).toBe('owner');
    // Provider tokens are stored encrypted, readable through the repository.
    const raw = await h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT row_to_json(i)::text AS t FROM identities i WHERE provider_user_id = ${providerUserId}`);
    expect(raw).not.toContain('secret-access');
    expect(await identities.getTokens(created.user.id, 'google')).toMatchObject({ accessToken: 'ya29.secret-access', refreshToken: '1//secret-refresh' });

    const again = await oauth.signIn({ provider: 'google', providerUserId, email, emailVerified: true, accessToken: 'ya29.rotated' });
    expect(again).toMatchObject({ outcome: 'signed_in', user: { id: created.user.id } });
    expect(again.sessionId).not.toBe(created.sessionId);
    expect((await identities.getTokens(created.user.id, 'google')).accessToken).toBe('ya29.rotated');
  });

  it('links to an existing verified account only when the provider asserts the email is verified', async () => {
    const u = await h.user({ verified: true });
    const refused = await oauth.signIn({ provider: 'discord', providerUserId: sub(), email: u.email, emailVerified: false }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(await identities.listForUser(u.userId)).toHaveLength(0);

    const linked = await oauth.signIn({ provider: 'microsoft', providerUserId: sub(), email: u.email.toUpperCase(), emailVerified: true });
    expect(linked).toMatchObject({ outcome: 'linked', user: { id: u.userId }, organization: { id: u.organizationId } });
    expect((await identities.listForUser(u.userId)).map((i) => i.provider)).toEqual(['microsoft']);
    const events = await h.auditEvents(linked.context);
    expect(events.find((e) => e.eventType === 'auth.oauth.linked')?.riskScore).toBeGreaterThan(0);
  });

  it('refuses to link an account whose own email is unverified (pre-registration takeover)', async () => {
    const u = await h.user({ verified: false });
    await expect(oauth.signIn({ provider: 'apple', providerUserId: sub(), email: u.email, emailVerified: true })).rejects.toBeInstanceOf(ConflictError);
    expect(await identities.listForUser(u.userId)).toHaveLength(0);
  });

  it('refuses suspended accounts, unsupported providers and a missing email for new accounts', async () => {
    const u = await h.user();
    const providerUserId = sub();
    await oauth.signIn({ provider: 'facebook', providerUserId, email: u.email, emailVerified: true });
    await h.auth.suspendUser(u.userId, 'test');
    await expect(oauth.signIn({ provider: 'facebook', providerUserId, email: u.email, emailVerified: true })).rejects.toBeInstanceOf(AccountStateError);
    await expect(oauth.signIn({ provider: 'github' as 'google', providerUserId: sub(), email: 'x@example.test' })).rejects.toMatchObject({ fields: ['provider'] });
    await expect(oauth.signIn({ provider: 'apple', providerUserId: sub() })).rejects.toMatchObject({ fields: ['email'] });
  });

  it('settles two concurrent first sign-ins of one identity on one account', async () => {
    const email = `race-${randomUUID().slice(0, 8)}@example.test`;
    const providerUserId = sub();
    const results = await Promise.allSettled([1, 2].map(() => oauth.signIn({ provider: 'google', providerUserId, email, emailVerified: true })));
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(new Set(ok.map((r) => r.user.id)).size).toBe(1);
  });
});
