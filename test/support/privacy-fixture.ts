import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { Config } from '../../src/config.js';
import { AnalyticsRepository } from '../../src/mongo/repositories/analytics-repository.js';
import { ConversationRepository } from '../../src/mongo/repositories/conversation-repository.js';
import { KnowledgeChunkRepository } from '../../src/mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository } from '../../src/mongo/repositories/knowledge-document-repository.js';
import { MessageRepository } from '../../src/mongo/repositories/message-repository.js';
import { MongoProvisioner } from '../../src/mongo/mongo-provisioner.js';
import { createPlatform, type Platform } from '../../src/platform.js';
import type { PlatformOptions } from '../../src/platform-options.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { ApiKeyRepository } from '../../src/postgres/repositories/api-key-repository.js';
import { AuditRepository } from '../../src/postgres/repositories/audit-repository.js';
import { IdentityRepository } from '../../src/postgres/repositories/identity-repository.js';
import { IntegrationTokenRepository } from '../../src/postgres/repositories/integration-token-repository.js';
import { MfaRepository } from '../../src/postgres/repositories/mfa-repository.js';
import { RefreshTokenRepository } from '../../src/postgres/repositories/refresh-token-repository.js';
import { SessionRepository } from '../../src/postgres/repositories/session-repository.js';
import { VerificationTokenRepository } from '../../src/postgres/repositories/verification-token-repository.js';
import { EmbeddingIndex } from '../../src/qdrant/repositories/embedding-index.js';
import { QdrantProvisioner } from '../../src/qdrant/qdrant-provisioner.js';
import { CacheAside } from '../../src/redis/repositories/cache-aside.js';
import { JobQueues } from '../../src/redis/job-queues.js';
import { LoginThrottle } from '../../src/redis/repositories/login-throttle.js';
import { RateLimiter } from '../../src/redis/repositories/rate-limiter.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { SessionCache } from '../../src/redis/repositories/session-cache.js';
import type { MembershipRole } from '../../src/tenancy/membership-role.js';
import { createTenantContext, type TenantContext } from '../../src/tenancy/tenant-context.js';

export const DIM = 8;

/** A started four-store platform on `config`, with MongoDB and Qdrant provisioned (Postgres comes migrated from the template). */
export async function startPrivacyPlatform(config: Config, options: PlatformOptions = {}): Promise<Platform> {
  const platform = createPlatform(config, options);
  await platform.start();
  await platform.resolve(MongoProvisioner).provision();
  await platform.resolve(QdrantProvisioner).forDimension(DIM).provision();
  return platform;
}

/** Removes this file's Redis keys (queues have no TTL) from the shared server. */
export async function dropRedisKeys(platform: Platform): Promise<void> {
  await platform.resolve(JobQueues).close();
  const redis = platform.resolve(RedisConnection);
  const keys = await redis.client.keys(`${platform.config.redis.keyPrefix}*`);
  if (keys.length > 0) await redis.client.del(...keys);
}

function vector(seed: number): number[] {
  return Array.from({ length: DIM }, (_, i) => (i === seed % DIM ? 1 : 0.1));
}

export async function createOrganization(platform: Platform, slug = `o-${randomUUID().slice(0, 8)}`): Promise<{ id: string; slug: string }> {
  const id = randomUUID();
  await platform.resolve(PostgresConnection).ownerPool.query(sql.unsafe`INSERT INTO organizations (id, name, slug) VALUES (${id}, 'Org', ${slug})`);
  return { id, slug };
}

export async function createUser(platform: Platform): Promise<{ id: string; email: string }> {
  const id = randomUUID();
  const email = `u-${id}@example.test`;
  await platform
    .resolve(PostgresConnection)
    .ownerPool.query(sql.unsafe`INSERT INTO users (id, email, display_name, status) VALUES (${id}, ${email}, 'Person', 'active')`);
  return { id, email };
}

export async function addMember(platform: Platform, organizationId: string, userId: string, role: MembershipRole): Promise<TenantContext> {
  await platform
    .resolve(PostgresConnection)
    .ownerPool.query(sql.unsafe`INSERT INTO memberships (organization_id, user_id, role) VALUES (${organizationId}, ${userId}, ${role})`);
  return createTenantContext({ organizationId, userId, role, scopes: [] });
}

/** What {@link seedUserEverywhere} wrote, by kind, so tests can compare exports and remainders against it. */
export interface SeededUser {
  readonly userId: string;
  readonly email: string;
  readonly organizationId: string;
  /** An owner who stays (the user is a plain member, so erasure is allowed). */
  readonly ownerId: string;
  readonly ctx: TenantContext;
  readonly ids: {
    readonly sessions: readonly string[];
    readonly conversations: readonly string[];
    readonly messages: readonly string[];
    readonly analytics: readonly string[];
    readonly auditEvents: number;
    readonly identityProviderUserId: string;
    readonly apiKeyPrefix: string;
    readonly personaId: string;
    readonly documentId: string;
  };
  /** Secrets written for the user: an export must contain none of them. */
  readonly secrets: readonly string[];
}

/**
 * A user with something in every table and store that can hold personal
 * data: Postgres (membership, session + refresh token, identity with provider
 * tokens, MFA, verification token, integration token, API key, persona
 * preference, audit events as actor and as subject), MongoDB (conversation,
 * messages, analytics), Redis (session cache, per-user rate limit, login
 * throttle) and — organization-owned, so it must SURVIVE the user's
 * erasure — a knowledge document with Qdrant points.
 */
export async function seedUserEverywhere(platform: Platform, organization?: { id: string }): Promise<SeededUser> {
  const org = organization ?? (await createOrganization(platform));
  const owner = await createUser(platform);
  const ownerCtx = await addMember(platform, org.id, owner.id, 'owner');
  const user = await createUser(platform);
  const ctx = await addMember(platform, org.id, user.id, 'member');
  const pool = platform.resolve(PostgresConnection).ownerPool;

  const session = await platform
    .resolve(SessionRepository)
    .create(ctx, { accessTokenJti: `jti-${randomUUID()}`, ip: '203.0.113.9', userAgent: 'Browser/1.0', device: 'laptop' });
  const refresh = await platform.resolve(RefreshTokenRepository).issue(session.id);
  const identityProviderUserId = `gh-${randomUUID()}`;
  await platform
    .resolve(IdentityRepository)
    .link(user.id, { provider: 'github', providerUserId: identityProviderUserId, email: user.email, accessToken: 'gho_provider_access_secret' });
  await platform.resolve(MfaRepository).enroll(user.id, 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
  const verification = await platform.resolve(VerificationTokenRepository).create(user.id, 'email_verification');
  await platform.resolve(IntegrationTokenRepository).save(ctx, { integration: 'slack', accessToken: 'xoxb-integration-secret', scopes: ['chat:write'] });
  const developerCtx = createTenantContext({ organizationId: org.id, userId: user.id, role: 'developer', scopes: [] });
  await pool.query(sql.unsafe`UPDATE memberships SET role = 'developer' WHERE organization_id = ${org.id} AND user_id = ${user.id}`);
  const apiKey = await platform.resolve(ApiKeyRepository).create(developerCtx, { name: 'cli key' });
  await pool.query(sql.unsafe`UPDATE memberships SET role = 'member' WHERE organization_id = ${org.id} AND user_id = ${user.id}`);
  const personaId = await pool.oneFirst(sql.type(z.object({ id: z.uuid() }))`
    INSERT INTO personas (organization_id, name, created_by) VALUES (${org.id}, 'Helper', ${owner.id}) RETURNING id`);
  await pool.query(sql.unsafe`
    INSERT INTO user_persona_preferences (organization_id, user_id, persona_id, settings, is_default)
    VALUES (${org.id}, ${user.id}, ${personaId}, '{"speed": 1.2}'::jsonb, true)`);
  await platform.resolve(AuditRepository).append([
    { eventType: 'auth.login.succeeded', organizationId: org.id, actorUserId: user.id, ip: '203.0.113.9', userAgent: 'Browser/1.0' },
    { eventType: 'members.role.changed', organizationId: org.id, actorUserId: owner.id, details: { targetUserId: user.id, email: user.email } },
  ]);

  const conversation = await platform.resolve(ConversationRepository).create(ctx, { title: 'Holiday plans' });
  const messages = platform.resolve(MessageRepository);
  const m1 = await messages.append(ctx, conversation.id, { role: 'user', content: 'Where should I go?' });
  const m2 = await messages.append(ctx, conversation.id, { role: 'assistant', content: 'Somewhere warm.' });
  const event = await platform.resolve(AnalyticsRepository).record(ctx, { type: 'conversation.created', properties: { conversationId: conversation.id } });

  const { document } = await platform
    .resolve(KnowledgeDocumentRepository)
    .upsert(ownerCtx, { source: 'handbook.md', title: 'Handbook', content: 'Org handbook' });
  await platform.resolve(KnowledgeChunkRepository).replaceForDocument(ownerCtx, document.id, document.version, [{ text: 'Org handbook', tokenCount: 2 }]);
  await platform.resolve(EmbeddingIndex).upsert(ownerCtx, [{ documentId: document.id, version: document.version, ordinal: 0, vector: vector(1) }]);

  const cache = platform.resolve(SessionCache);
  await cache.put(
    {
      sessionId: session.id,
      userId: user.id,
      organizationId: org.id,
      roles: ['member'],
      expiresAt: session.expiresAt.getTime(),
      revocationEpoch: await cache.readEpoch(user.id),
    },
    { jti: session.accessTokenJti, expiresAt: Date.now() + 60_000 },
  );
  await platform.resolve(RateLimiter).consumeForUser(user.id, 'messages', { limit: 10, windowMs: 60_000 });
  await platform.resolve(LoginThrottle).recordFailure({ email: user.email, ip: '203.0.113.9' });
  await platform.resolve(CacheAside).getOrLoad(platform.resolve(RedisKeys).cache('org-settings', org.id), 60, async () => ({ tier: 'free' }));

  return {
    userId: user.id,
    email: user.email,
    organizationId: org.id,
    ownerId: owner.id,
    ctx,
    ids: {
      sessions: [session.id],
      conversations: [conversation.id],
      messages: [m1.id, m2.id],
      analytics: [event.id],
      // The two appended above, and `api_key.created` written with the key.
      auditEvents: 3,
      identityProviderUserId,
      apiKeyPrefix: apiKey.apiKey.prefix,
      personaId,
      documentId: document.id,
    },
    secrets: [
      refresh.token,
      verification.token,
      apiKey.key,
      'gho_provider_access_secret',
      'xoxb-integration-secret',
      'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
      session.accessTokenJti,
    ],
  };
}
