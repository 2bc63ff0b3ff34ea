import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { ConfigError } from '../../../src/errors.js';
import { MfaEnrollment } from '../../../src/flows/auth/mfa-enrollment.js';
import { TOTP_PERIOD_SECONDS, Totp } from '../../../src/security/totp.js';
import { ApiKeyAuthenticator } from '../../../src/flows/auth/api-key-authenticator.js';
import { AUTH_NOTIFIER } from '../../../src/tokens.js';
import { MfaSignIn } from '../../../src/flows/auth/mfa-sign-in.js';
import { PasswordSignIn } from '../../../src/flows/auth/password-sign-in.js';
import { RefreshRotation } from '../../../src/flows/auth/refresh-rotation.js';
import { SessionRevoker } from '../../../src/flows/auth/session-revoker.js';
import { SessionValidator } from '../../../src/flows/auth/session-validator.js';
import { ErasureFlow } from '../../../src/flows/privacy/erasure-flow.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { KnowledgeIngestion } from '../../../src/flows/knowledge/knowledge-ingestion.js';
import { KnowledgeSearch } from '../../../src/flows/knowledge/knowledge-search.js';
import { QdrantProvisioner } from '../../../src/qdrant/qdrant-provisioner.js';
import { SignUpService } from '../../../src/flows/auth/sign-up-service.js';
import { UserExporter } from '../../../src/flows/privacy/user-exporter.js';
import { EmailVerification } from '../../../src/flows/auth/email-verification.js';
import { MongoProvisioner } from '../../../src/mongo/mongo-provisioner.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { ApiKeyRepository } from '../../../src/postgres/repositories/api-key-repository.js';
import { AuditRepository } from '../../../src/postgres/repositories/audit-repository.js';
import { AuditWriter } from '../../../src/postgres/repositories/audit-writer.js';
import { MembershipRepository } from '../../../src/postgres/repositories/membership-repository.js';
import { PersonaRepository } from '../../../src/postgres/repositories/persona-repository.js';
import { requireStores } from '../../support/require-stores.js';
import { dropRedisKeys } from '../../support/privacy-fixture.js';
import { CapturingNotifier, PASSWORD } from '../../support/auth-fixtures.js';
import { test } from '../../support/fixtures.js';

const client = { ip: '203.0.113.9', userAgent: 'vitest', deviceId: 'lp-1' };

describe.skipIf(!requireStores('postgres', 'redis', 'mongo', 'qdrant'))('least privilege at run time', () => {
  let platform: Platform;
  const notifier = new CapturingNotifier();

  test.beforeAll(async ({ testEnv: t }) => {
    // No owner credentials anywhere in the configuration: only the application role's URL.
    const { DATABASE_URL: _owner, ...env } = t.env;
    const config = loadConfig(env);
    expect(config.postgres.url).toBeUndefined();
    expect(JSON.stringify(config)).not.toContain(new URL(t.env.DATABASE_URL ?? '').username + '@');
    // PostgreSQL comes migrated from the template (by the owner, outside this process); MongoDB and
    // Qdrant are provisioned here, with the default embedder's dimension, as bootstrap would.
    platform = createPlatform(config);
    platform.container.registerInstance(AUTH_NOTIFIER, notifier);
    await platform.start();
    await platform.resolve(MongoProvisioner).provision();
    await platform.resolve(QdrantProvisioner).provision();
  });
  test.afterAll(async () => {
    if (platform) {
      await dropRedisKeys(platform);
      await platform.stop();
    }
  });

  test('has no owner pool: owner work is a ConfigError naming DATABASE_URL', () => {
    const error = (() => {
      try {
        return platform.resolve(PostgresConnection).ownerPool;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['DATABASE_URL']);
  });

  test('reports health, migrations included, without the owner', async () => {
    const postgres = (await platform.health()).stores.find((s) => s.store === 'postgres');
    expect(postgres).toMatchObject({ status: 'up', provisioned: true, pending: [] });
  });

  test('serves every flow on the application role alone', async ({ testEnv: t }) => {
    const email = `lp-${t.id}@example.test`.toLowerCase();
    // Sign-up (user + organization + owner membership) and e-mail verification.
    const { user, organization } = await platform.resolve(SignUpService).createAccount({
      email,
      password: PASSWORD,
      organizationName: 'Least',
      ageConfirmed: true,
      emailVerified: false,
    });
    const emailVerification = platform.resolve(EmailVerification);
    await emailVerification.requestEmailVerification(user.id);
    const token = notifier.sent.filter((m) => m.userId === user.id && m.kind === 'email_verification').at(-1)?.token ?? '';
    expect((await emailVerification.verifyEmail(token)).status).toBe('active');

    // Login (case-insensitive email), validate, refresh, logout.
    const mfaSignIn = platform.resolve(MfaSignIn);
    const revoker = platform.resolve(SessionRevoker);
    const rotation = platform.resolve(RefreshRotation);
    const signIn = platform.resolve(PasswordSignIn);
    const validator = platform.resolve(SessionValidator);
    const session = expectSignedIn(await signIn.login(email.toUpperCase(), PASSWORD, client));
    expect(session.organization.id).toBe(organization.id);
    await expect(validator.validate({ userId: user.id, sessionId: session.sessionId })).resolves.toMatchObject({ sessionId: session.sessionId });
    const refreshed = await rotation.refresh(session.refreshToken, client);
    expect(refreshed.refreshToken).not.toBe(session.refreshToken);
    const ctx = session.context;

    // MFA: enrol TOTP, then a password sign-in ends in a challenge that a code completes.
    const enrollment = platform.resolve(MfaEnrollment);
    const totp = new Totp();
    const { secret } = await enrollment.beginTotpEnrollment(ctx);
    await enrollment.confirmTotpEnrollment(ctx, await totp.generate(secret));
    const challenged = await signIn.login(email, PASSWORD, client);
    if (challenged.status !== 'mfa_required') throw new Error(`expected mfa_required, got ${challenged.status}`);
    const nextCode = await totp.generate(secret, new Date(Date.now() + TOTP_PERIOD_SECONDS * 1000));
    const mfaSession = await mfaSignIn.completeMfaLogin(challenged.challengeToken, { code: nextCode }, client);
    expect(mfaSession).toMatchObject({ status: 'signed_in', user: { id: user.id } });

    // API keys, memberships (a second signed-up user), personas, audit.
    const { key } = await platform.resolve(ApiKeyRepository).create(ctx, { name: 'ci', scopes: ['knowledge:read'] });
    await expect(platform.resolve(ApiKeyAuthenticator).authenticate(key)).resolves.toBeDefined();
    const other = await platform.resolve(SignUpService).createAccount({
      email: `lp2-${t.id}@example.test`.toLowerCase(),
      password: PASSWORD,
      organizationName: 'Other',
      ageConfirmed: true,
      emailVerified: true,
    });
    const invited = await platform.resolve(MembershipRepository).add(ctx, { userId: other.user.id, role: 'member' });
    await platform.resolve(MembershipRepository).acceptInvitation(invited.token);
    expect((await platform.resolve(MembershipRepository).list(ctx)).items).toHaveLength(2);
    await platform.resolve(PersonaRepository).create(ctx, { name: 'Ada' });
    expect((await platform.resolve(PersonaRepository).list(ctx)).items.map((p) => p.name)).toEqual(['Ada']);
    await platform.resolve(AuditWriter).flush();
    const events = (await platform.resolve(AuditRepository).query(ctx, {}, { limit: 100 })).items.map((e) => e.eventType);
    expect(events).toContain('auth.login.succeeded');

    // Knowledge ingestion and search.
    const ingestion = platform.resolve(KnowledgeIngestion);
    const doc = await ingestion.ingestDocument(ctx, { source: 'faq', title: 'Refunds', content: 'Refunds arrive within five business days.' });
    const worker = await ingestion.startIngestionWorker({ stalledIntervalMs: 300 });
    try {
      const waited = await ingestion.waitForIndexing(ctx, [{ id: doc.document.id, version: doc.document.version }], { timeoutMs: 25_000 });
      expect(waited.failed).toEqual([]);
      expect(waited.unsettled).toEqual([]);
    } finally {
      await worker.close();
    }
    expect((await platform.resolve(KnowledgeSearch).semanticSearch(ctx, 'refund', { limit: 1 })).length).toBe(1);

    // Logout; export; then erasure: the second user's own organization, then the user.
    expect(await revoker.logout(refreshed.sessionId)).toBe(true);
    await expect(validator.validate({ userId: user.id, sessionId: session.sessionId })).rejects.toBeDefined();
    const lines: string[] = [];
    for await (const line of platform.resolve(UserExporter).exportUser(user.id)) lines.push(line);
    expect(lines.some((l) => l.includes(email))).toBe(true);
    const erasure = platform.resolve(ErasureFlow);
    const eraser = await erasure.startWorker();
    try {
      const organizationRequest = await erasure.deleteOrganization(other.organization.id, { reason: 'least-privilege test' });
      expect((await erasure.waitFor(organizationRequest.id, { timeoutMs: 20_000 })).status).toBe('completed');
      const userRequest = await erasure.eraseUser(other.user.id, { reason: 'least-privilege test' });
      expect((await erasure.waitFor(userRequest.id, { timeoutMs: 20_000 })).status).toBe('completed');
      expect(await erasure.verifyErased(other.user.id)).toEqual([]);
      expect(await erasure.verifyOrganizationDeleted(other.organization.id)).toEqual([]);
    } finally {
      await eraser.close();
    }
  });
});
