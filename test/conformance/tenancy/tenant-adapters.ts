import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { AnalyticsRepository } from '../../../src/mongo/repositories/analytics-repository.js';
import { ConversationRepository } from '../../../src/mongo/repositories/conversation-repository.js';
import { KnowledgeChunkRepository } from '../../../src/mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository } from '../../../src/mongo/repositories/knowledge-document-repository.js';
import { MessageRepository } from '../../../src/mongo/repositories/message-repository.js';
import type { Platform } from '../../../src/platform.js';
import { ApiKeyRepository } from '../../../src/postgres/repositories/api-key-repository.js';
import { AuditRepository } from '../../../src/postgres/repositories/audit-repository.js';
import { IntegrationTokenRepository } from '../../../src/postgres/repositories/integration-token-repository.js';
import { MembershipRepository } from '../../../src/postgres/repositories/membership-repository.js';
import { OrganizationRepository } from '../../../src/postgres/repositories/organization-repository.js';
import { PersonaRepository } from '../../../src/postgres/repositories/persona-repository.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { OrganizationDomainRepository } from '../../../src/postgres/repositories/organization-domain-repository.js';
import { SsoConnectionRepository } from '../../../src/postgres/repositories/sso-connection-repository.js';
import { SessionRepository } from '../../../src/postgres/repositories/session-repository.js';
import { SignInSessionRepository } from '../../../src/postgres/repositories/sign-in-session-repository.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { EmbeddingIndex } from '../../../src/qdrant/repositories/embedding-index.js';
import { RateLimiter } from '../../../src/redis/repositories/rate-limiter.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { RedisKeys } from '../../../src/redis/redis-keys.js';
import { VoiceCache } from '../../../src/redis/repositories/voice-cache.js';
import { AdminScope } from '../../../src/tenancy/admin-scope.js';
import type { TenantContext } from '../../../src/tenancy/tenant-context.js';

/** Two organizations, A (the actor) and B (the victim), each with an owner. */
export interface TenancyWorld {
  readonly platform: Platform;
  /** Owner context of organization A: every exercised call is made with it (or with `freshTenant()`). */
  readonly a: TenantContext;
  /** Owner context of organization B: used only to seed and to snapshot. */
  readonly b: TenantContext;
  /** A new organization with its own owner, for calls that would spoil A for the next adapters (soft delete). */
  freshTenant(): Promise<TenantContext>;
  /** A new user in no organization. */
  freshUser(): Promise<string>;
  /** A user added to B with `role`. */
  memberOfB(role: 'member' | 'viewer'): Promise<string>;
}

/**
 * What an adapter seeded in B: `ids` to aim A's calls at (never in a result;
 * an error may echo the id A passed), and `markers` — B's content, which must
 * never appear in anything A gets back, result or error.
 */
export interface Seed {
  readonly ids: Readonly<Record<string, string>>;
  readonly markers: readonly string[];
  /** Keys of `ids` derived from public input (a content hash): A computes the same value for its own item. */
  readonly derived?: readonly string[];
}

/**
 * One tenant repository's conformance adapter: seed one item in B, snapshot
 * B as B sees it, and one function per tenant method that makes the call as
 * A, aimed at B's item wherever the method takes an id. The suite checks
 * that no result (or error) contains a B marker and that B's snapshot is
 * unchanged afterwards; a function may assert more (e.g. a count of 0).
 */
export interface TenantAdapter {
  seed(w: TenancyWorld): Promise<Seed>;
  snapshot(w: TenancyWorld, s: Seed): Promise<unknown>;
  /** False when B's snapshot cannot show the markers (key builders, counters); default true. */
  readonly snapshotShowsSeed?: boolean;
  readonly methods: Readonly<Record<string, (w: TenancyWorld, s: Seed) => Promise<unknown>>>;
}

export function idOf(s: Seed, key: string): string {
  const value = s.ids[key];
  if (value === undefined) throw new Error(`seed has no id "${key}"`);
  return value;
}

const marker = (what: string) => `B-only-${what}-${randomUUID()}`;
const DAY = 86_400_000;
const DIM = 8;
const vector = Array.from({ length: DIM }, (_, i) => (i === 3 ? 1 : 0.05));

/** Adapters by class name; the suite demands one for every discovered tenant repository and method. */
/** One session of B's (its jti and user agent a marker), and B's sessions as the snapshot: both session writers' adapters. */
const sessionOfB: Pick<TenantAdapter, 'seed' | 'snapshot'> = {
  async seed(w) {
    const m = marker('jti');
    const session = await w.platform.resolve(SessionRepository).create(w.b, { accessTokenJti: m, userAgent: m });
    return { ids: { session: session.id }, markers: [m] };
  },
  snapshot: (w) => w.platform.resolve(SessionRepository).listForOrganization(w.b),
};

export const TENANT_ADAPTERS: Readonly<Record<string, TenantAdapter>> = {
  // ---------------------------------------------------------------- Postgres
  AuditRepository: {
    async seed(w) {
      const m = marker('audit');
      await w.platform
        .resolve(AuditRepository)
        .append([{ eventType: 'test.seeded', organizationId: w.b.organizationId, actorUserId: w.b.userId, details: { note: m } }]);
      return { ids: {}, markers: [m, w.b.organizationId] };
    },
    snapshot: (w) => w.platform.resolve(AuditRepository).query(w.b),
    methods: {
      query: (w) => w.platform.resolve(AuditRepository).query(w.a),
    },
  },
  ApiKeyRepository: {
    async seed(w) {
      const m = marker('key');
      const { apiKey } = await w.platform.resolve(ApiKeyRepository).create(w.b, { name: m.slice(0, 60) });
      return { ids: { key: apiKey.id }, markers: [m.slice(0, 60), apiKey.prefix] };
    },
    snapshot: (w, s) => w.platform.resolve(ApiKeyRepository).get(w.b, idOf(s, 'key')),
    methods: {
      get: (w, s) => w.platform.resolve(ApiKeyRepository).get(w.a, idOf(s, 'key')),
      list: (w) => w.platform.resolve(ApiKeyRepository).list(w.a),
      update: (w, s) => w.platform.resolve(ApiKeyRepository).update(w.a, idOf(s, 'key'), { scopes: ['knowledge:read'] }),
      revoke: (w, s) => w.platform.resolve(ApiKeyRepository).revoke(w.a, idOf(s, 'key')),
      create: async (w) => (await w.platform.resolve(ApiKeyRepository).create(w.a, { name: 'A key' })).apiKey,
    },
  },
  IntegrationTokenRepository: {
    async seed(w) {
      const m = marker('token');
      await w.platform.resolve(IntegrationTokenRepository).save(w.b, { integration: 'slack', accessToken: m });
      return { ids: {}, markers: [m, w.b.organizationId] };
    },
    // list, not get: get records the read itself (last_used_at, issue 20), so it would change what it snapshots.
    snapshot: (w) => w.platform.resolve(IntegrationTokenRepository).list(w.b),
    methods: {
      get: (w) => w.platform.resolve(IntegrationTokenRepository).get(w.a, 'slack'),
      list: (w) => w.platform.resolve(IntegrationTokenRepository).list(w.a),
      delete: (w) => w.platform.resolve(IntegrationTokenRepository).delete(w.a, 'slack'),
      save: (w) => w.platform.resolve(IntegrationTokenRepository).save(w.a, { integration: 'slack', accessToken: 'A token' }),
    },
  },
  MembershipRepository: {
    async seed(w) {
      const member = await w.memberOfB('member');
      const { invitation } = await w.platform.resolve(MembershipRepository).add(w.b, { userId: await w.freshUser(), role: 'viewer' });
      return { ids: { member, invitation: invitation.id, organization: w.b.organizationId }, markers: [] };
    },
    snapshot: async (w) => [await w.platform.resolve(MembershipRepository).list(w.b), await w.platform.resolve(MembershipRepository).listInvitations(w.b)],
    methods: {
      get: (w, s) => w.platform.resolve(MembershipRepository).get(w.a, idOf(s, 'member')),
      list: (w) => w.platform.resolve(MembershipRepository).list(w.a),
      listForCurrentUser: (w) => w.platform.resolve(MembershipRepository).listForCurrentUser(w.a),
      changeRole: (w, s) => w.platform.resolve(MembershipRepository).changeRole(w.a, idOf(s, 'member'), 'viewer'),
      recordActivity: (w) => w.platform.resolve(MembershipRepository).recordActivity(w.a, 3),
      remove: (w, s) => w.platform.resolve(MembershipRepository).remove(w.a, idOf(s, 'member')),
      add: async (w) => w.platform.resolve(MembershipRepository).add(w.a, { userId: await w.freshUser(), role: 'member' }),
      listInvitations: (w) => w.platform.resolve(MembershipRepository).listInvitations(w.a),
      revokeInvitation: (w, s) => w.platform.resolve(MembershipRepository).revokeInvitation(w.a, idOf(s, 'invitation')),
    },
  },
  OrganizationRepository: {
    seed: async (w) => ({ ids: { organization: w.b.organizationId }, markers: [] }),
    snapshotShowsSeed: false,
    snapshot: (w) => w.platform.resolve(OrganizationRepository).getCurrent(w.b),
    methods: {
      getCurrent: (w) => w.platform.resolve(OrganizationRepository).getCurrent(w.a),
      listForCurrentUser: (w) => w.platform.resolve(OrganizationRepository).listForCurrentUser(w.a),
      update: (w) => w.platform.resolve(OrganizationRepository).update(w.a, { name: 'A renamed' }),
      addCredits: (w) => w.platform.resolve(OrganizationRepository).addCredits(w.a, 5),
      debitCredits: (w) => w.platform.resolve(OrganizationRepository).debitCredits(w.a, 1),
      softDelete: async (w) => w.platform.resolve(OrganizationRepository).softDelete(await w.freshTenant()),
    },
  },
  PersonaRepository: {
    async seed(w) {
      const repo = w.platform.resolve(PersonaRepository);
      const m = marker('persona').slice(0, 60);
      const persona = await repo.create(w.b, { name: m });
      await repo.setPreference(w.b, persona.id, { isDefault: true, settings: { note: m } });
      const uri = `s3://voices/${m}`;
      await repo.putVoiceCacheEntry(w.b, { personaId: persona.id, cacheKey: 'b'.repeat(64), storageUri: uri, contentType: 'audio/mpeg', byteSize: 10 });
      return { ids: { persona: persona.id }, markers: [m, uri] };
    },
    snapshot: async (w, s) => {
      const repo = w.platform.resolve(PersonaRepository);
      return { persona: await repo.get(w.b, idOf(s, 'persona')), list: await repo.list(w.b), preferences: await repo.listPreferences(w.b) };
    },
    methods: {
      get: (w, s) => w.platform.resolve(PersonaRepository).get(w.a, idOf(s, 'persona')),
      list: (w) => w.platform.resolve(PersonaRepository).list(w.a),
      listPreferences: (w) => w.platform.resolve(PersonaRepository).listPreferences(w.a),
      hitVoiceCacheEntry: (w) => w.platform.resolve(PersonaRepository).hitVoiceCacheEntry(w.a, 'b'.repeat(64)),
      update: (w, s) => w.platform.resolve(PersonaRepository).update(w.a, idOf(s, 'persona'), { name: 'A took it' }),
      setPreference: (w, s) => w.platform.resolve(PersonaRepository).setPreference(w.a, idOf(s, 'persona'), { isDefault: true }),
      delete: (w, s) => w.platform.resolve(PersonaRepository).delete(w.a, idOf(s, 'persona')),
      // The same cache key in A is A's own entry (the key is unique per organization), never B's.
      putVoiceCacheEntry: (w) =>
        w.platform
          .resolve(PersonaRepository)
          .putVoiceCacheEntry(w.a, { cacheKey: 'b'.repeat(64), storageUri: 's3://voices/a', contentType: 'audio/mpeg', byteSize: 1 }),
      create: (w) => w.platform.resolve(PersonaRepository).create(w.a, { name: 'A persona' }),
    },
  },
  OrganizationDomainRepository: {
    async seed(w) {
      const domain = `b-only-${randomUUID()}.example.com`;
      // The column's CHECK (sql/0110): 32 base64url characters, as OrganizationDomains.addDomain makes them.
      const token = randomBytes(24).toString('base64url');
      const d = await w.platform.resolve(OrganizationDomainRepository).create(w.b, domain, token);
      return { ids: { domain: d.id }, markers: [domain, token] };
    },
    snapshot: (w) => w.platform.resolve(OrganizationDomainRepository).list(w.b),
    methods: {
      create: (w) => w.platform.resolve(OrganizationDomainRepository).create(w.a, `a-${randomUUID()}.example.com`, randomBytes(24).toString('base64url')),
      list: (w) => w.platform.resolve(OrganizationDomainRepository).list(w.a),
      get: (w, s) => w.platform.resolve(OrganizationDomainRepository).get(w.a, idOf(s, 'domain')),
      markVerified: (w, s) => w.platform.resolve(OrganizationDomainRepository).markVerified(w.a, idOf(s, 'domain')),
      setAutoJoin: (w, s) => w.platform.resolve(OrganizationDomainRepository).setAutoJoin(w.a, idOf(s, 'domain'), 'admin'),
      remove: async (w, s) => {
        expect(await w.platform.resolve(OrganizationDomainRepository).remove(w.a, idOf(s, 'domain'))).toBe(false);
        return false;
      },
    },
  },
  SsoConnectionRepository: {
    async seed(w) {
      const name = marker('sso');
      const secret = marker('secret');
      const c = await w.platform
        .resolve(SsoConnectionRepository)
        .create(w.b, { protocol: 'oidc', name, issuer: 'https://idp.b.example', clientId: marker('client'), clientSecret: secret });
      return { ids: { connection: c.id }, markers: [name, secret, c.oidc?.clientId ?? name] };
    },
    snapshot: (w) => w.platform.resolve(SsoConnectionRepository).list(w.b),
    methods: {
      create: (w) =>
        w.platform.resolve(SsoConnectionRepository).create(w.a, { protocol: 'oidc', name: 'A SSO', issuer: 'https://idp.a.example', clientId: 'a-client' }),
      list: (w) => w.platform.resolve(SsoConnectionRepository).list(w.a),
      setEnabled: (w, s) => w.platform.resolve(SsoConnectionRepository).setEnabled(w.a, idOf(s, 'connection'), false),
      delete: async (w, s) => {
        expect(await w.platform.resolve(SsoConnectionRepository).delete(w.a, idOf(s, 'connection'))).toBe(false);
        return false;
      },
    },
  },
  SecuritySettingsRepository: {
    async seed(w) {
      await w.platform.resolve(SecuritySettingsRepository).update(w.b, { passwordMinLength: 20 });
      return { ids: { organization: w.b.organizationId }, markers: [] };
    },
    snapshotShowsSeed: false,
    snapshot: (w) => w.platform.resolve(SecuritySettingsRepository).get(w.b),
    methods: {
      get: async (w) => {
        const settings = await w.platform.resolve(SecuritySettingsRepository).get(w.a);
        expect(settings.passwordMinLength).not.toBe(20);
        return settings;
      },
      update: (w) => w.platform.resolve(SecuritySettingsRepository).update(w.a, { passwordMinLength: 16 }),
    },
  },
  SessionRepository: {
    ...sessionOfB,
    methods: {
      listForOrganization: (w) => w.platform.resolve(SessionRepository).listForOrganization(w.a),
      create: (w) => w.platform.resolve(SessionRepository).create(w.a, { accessTokenJti: `a-${randomUUID()}` }),
      createWith: (w) => w.platform.resolve(SessionRepository).createWith(w.a, { accessTokenJti: `a-${randomUUID()}` }, async () => undefined),
    },
  },
  SignInSessionRepository: {
    ...sessionOfB,
    methods: {
      // A's sign-in with a limit of one session revokes A's other sessions, none of B's.
      issue: (w) =>
        w.platform.resolve(SignInSessionRepository).issue(w.a, {
          sessionId: randomUUID(),
          session: { accessTokenJti: `a-${randomUUID()}` },
          keepOthers: 0,
          revokeReason: 'concurrent_session_limit',
          events: [],
        }),
    },
  },
  UserRepository: {
    async seed(w) {
      const user = await w.platform.resolve(UserRepository).getCurrent(w.b);
      return { ids: { user: user.id }, markers: [user.email] };
    },
    snapshot: (w) => w.platform.resolve(UserRepository).getCurrent(w.b),
    methods: {
      getCurrent: (w) => w.platform.resolve(UserRepository).getCurrent(w.a),
      listForOrganization: (w) => w.platform.resolve(UserRepository).listForOrganization(w.a),
      updateProfile: (w) => w.platform.resolve(UserRepository).updateProfile(w.a, { displayName: 'A person' }),
    },
  },

  // ---------------------------------------------------------------- MongoDB
  AnalyticsRepository: {
    async seed(w) {
      const m = marker('event');
      await w.platform.resolve(AnalyticsRepository).record(w.b, { type: 'b.seeded', properties: { note: m } });
      return { ids: {}, markers: [m] };
    },
    snapshot: async (w) => {
      const events: unknown[] = [];
      for await (const e of w.platform
        .resolve(AnalyticsRepository)
        .listAllForUser(AdminScope.create({ actor: 'tenancy-suite', reason: 'snapshot of B' }), w.b.userId))
        events.push(e);
      return events;
    },
    methods: {
      countPerDay: async (w) => {
        const days = await w.platform
          .resolve(AnalyticsRepository)
          .countPerDay(w.a, { type: 'b.seeded', from: new Date(Date.now() - DAY), to: new Date(Date.now() + DAY) });
        expect(days).toEqual([]);
        return days;
      },
      record: (w) => w.platform.resolve(AnalyticsRepository).record(w.a, { type: 'a.event' }),
    },
  },
  ConversationRepository: {
    async seed(w) {
      const m = marker('title');
      const c = await w.platform.resolve(ConversationRepository).create(w.b, { title: m });
      return { ids: { conversation: c.id }, markers: [m] };
    },
    snapshot: (w, s) => w.platform.resolve(ConversationRepository).get(w.b, idOf(s, 'conversation')),
    methods: {
      get: (w, s) => w.platform.resolve(ConversationRepository).get(w.a, idOf(s, 'conversation')),
      // Naming B's user explicitly still lists only A's conversations.
      listByUser: (w) => w.platform.resolve(ConversationRepository).listByUser(w.a, { userId: w.b.userId }),
      rename: (w, s) => w.platform.resolve(ConversationRepository).rename(w.a, idOf(s, 'conversation'), 'A title'),
      annotate: (w, s) => w.platform.resolve(ConversationRepository).annotate(w.a, idOf(s, 'conversation'), { summary: 'A summary', metadata: { by: 'A' } }),
      archive: (w, s) => w.platform.resolve(ConversationRepository).archive(w.a, idOf(s, 'conversation')),
      delete: (w, s) => w.platform.resolve(ConversationRepository).delete(w.a, idOf(s, 'conversation')),
      create: (w) => w.platform.resolve(ConversationRepository).create(w.a, { title: 'A conversation' }),
    },
  },
  MessageRepository: {
    async seed(w) {
      const m = marker('message');
      const c = await w.platform.resolve(ConversationRepository).create(w.b, { title: 'B chat' });
      const msg = await w.platform.resolve(MessageRepository).append(w.b, c.id, { role: 'user', content: m });
      return { ids: { conversation: c.id, message: msg.id }, markers: [m] };
    },
    snapshot: (w, s) => w.platform.resolve(MessageRepository).pageBackwards(w.b, idOf(s, 'conversation')),
    methods: {
      pageBackwards: (w, s) => w.platform.resolve(MessageRepository).pageBackwards(w.a, idOf(s, 'conversation')),
      countByConversation: async (w, s) => {
        const n = await w.platform.resolve(MessageRepository).countByConversation(w.a, idOf(s, 'conversation'));
        expect(n).toBe(0);
        return n;
      },
      append: (w, s) => w.platform.resolve(MessageRepository).append(w.a, idOf(s, 'conversation'), { role: 'user', content: 'A writes into B?' }),
    },
  },
  KnowledgeDocumentRepository: {
    async seed(w) {
      const m = marker('doc');
      const { document } = await w.platform.resolve(KnowledgeDocumentRepository).upsert(w.b, { source: 'b.md', title: m, content: m });
      return { ids: { document: document.id }, markers: [m] };
    },
    snapshot: (w, s) => w.platform.resolve(KnowledgeDocumentRepository).get(w.b, idOf(s, 'document')),
    methods: {
      get: (w, s) => w.platform.resolve(KnowledgeDocumentRepository).get(w.a, idOf(s, 'document')),
      getMany: (w, s) => w.platform.resolve(KnowledgeDocumentRepository).getMany(w.a, [idOf(s, 'document')]),
      list: (w) => w.platform.resolve(KnowledgeDocumentRepository).list(w.a),
      findStuck: (w) => w.platform.resolve(KnowledgeDocumentRepository).findStuck(w.a, { olderThan: new Date(Date.now() + DAY) }),
      setStatus: (w, s) => w.platform.resolve(KnowledgeDocumentRepository).setStatus(w.a, idOf(s, 'document'), 'failed'),
      delete: (w, s) => w.platform.resolve(KnowledgeDocumentRepository).delete(w.a, idOf(s, 'document')),
      // B's id in A: a different document of A's, or a refusal — never B's document.
      upsert: (w, s) =>
        w.platform.resolve(KnowledgeDocumentRepository).upsert(w.a, { id: idOf(s, 'document'), source: 'a.md', title: 'A doc', content: 'A text' }),
    },
  },
  KnowledgeChunkRepository: {
    async seed(w) {
      const m = marker('chunk');
      const { document } = await w.platform.resolve(KnowledgeDocumentRepository).upsert(w.b, { source: 'b-chunks.md', title: 'B', content: m });
      await w.platform.resolve(KnowledgeChunkRepository).replaceForDocument(w.b, document.id, document.version, [{ text: m }]);
      return { ids: { document: document.id, chunk: `${document.id}:${document.version}:0` }, markers: [m] };
    },
    snapshot: async (w, s) => {
      const repo = w.platform.resolve(KnowledgeChunkRepository);
      return { count: await repo.countByDocument(w.b, idOf(s, 'document')), chunks: await repo.hydrate(w.b, [idOf(s, 'chunk')]) };
    },
    methods: {
      countByDocument: async (w, s) => {
        const n = await w.platform.resolve(KnowledgeChunkRepository).countByDocument(w.a, idOf(s, 'document'));
        expect(n).toBe(0);
        return n;
      },
      hydrate: (w, s) => w.platform.resolve(KnowledgeChunkRepository).hydrate(w.a, [idOf(s, 'chunk')]),
      // B's chunk is version 1, ordinal 0: both would remove it if the organization were not part of the filter.
      deleteVersionsBelow: async (w, s) => {
        const n = await w.platform.resolve(KnowledgeChunkRepository).deleteVersionsBelow(w.a, idOf(s, 'document'), 99);
        expect(n).toBe(0);
        return n;
      },
      deleteOrdinalsFrom: async (w, s) => {
        const n = await w.platform.resolve(KnowledgeChunkRepository).deleteOrdinalsFrom(w.a, idOf(s, 'document'), 1, 0);
        expect(n).toBe(0);
        return n;
      },
      deleteByDocument: (w, s) => w.platform.resolve(KnowledgeChunkRepository).deleteByDocument(w.a, idOf(s, 'document')),
      // Chunk ids derive from the document id: writing B's document id as A must not overwrite B's chunk.
      replaceForDocument: (w, s) => w.platform.resolve(KnowledgeChunkRepository).replaceForDocument(w.a, idOf(s, 'document'), 1, [{ text: 'A text' }]),
    },
  },

  // ---------------------------------------------------------------- Qdrant
  EmbeddingIndex: {
    async seed(w) {
      const documentId = marker('points');
      await w.platform.resolve(EmbeddingIndex).upsert(w.b, [{ documentId, version: 1, ordinal: 0, vector }]);
      return { ids: { document: documentId }, markers: [documentId] };
    },
    snapshot: async (w, s) => {
      const index = w.platform.resolve(EmbeddingIndex);
      return { count: await index.countByDocument(w.b, idOf(s, 'document')), hits: await index.search(w.b, vector, { limit: 50 }) };
    },
    methods: {
      search: async (w) => {
        const hits = await w.platform.resolve(EmbeddingIndex).search(w.a, vector, { limit: 50 });
        return hits;
      },
      countByDocument: async (w, s) => {
        const n = await w.platform.resolve(EmbeddingIndex).countByDocument(w.a, idOf(s, 'document'));
        expect(n).toBe(0);
        return n;
      },
      deleteByDocument: (w, s) => w.platform.resolve(EmbeddingIndex).deleteByDocument(w.a, idOf(s, 'document')),
      // B's point is version 1, ordinal 0: both filters match it but for the organization.
      deleteVersionsBelow: (w, s) => w.platform.resolve(EmbeddingIndex).deleteVersionsBelow(w.a, idOf(s, 'document'), 99),
      deleteOrdinalsFrom: (w, s) => w.platform.resolve(EmbeddingIndex).deleteOrdinalsFrom(w.a, idOf(s, 'document'), 1, 0),
      upsert: (w) => w.platform.resolve(EmbeddingIndex).upsert(w.a, [{ documentId: 'a-doc', version: 1, ordinal: 0, vector }]),
    },
  },

  // ---------------------------------------------------------------- Redis
  RateLimiter: {
    async seed(w) {
      const apiKeyId = `key-${randomUUID()}`;
      const limiter = w.platform.resolve(RateLimiter);
      for (let i = 0; i < 2; i++) await limiter.consumeForApiKey(w.b.organizationId, apiKeyId, { limit: 5, windowMs: 60_000 });
      return { ids: { apiKey: apiKeyId }, markers: [w.b.organizationId] };
    },
    snapshotShowsSeed: false,
    snapshot: (w, s) => w.platform.resolve(RedisConnection).client.zcard(w.platform.resolve(RedisKeys).rateLimitApiKey(w.b.organizationId, idOf(s, 'apiKey'))),
    methods: {
      // The same key id under A is A's own window: full, not B's half-used one.
      consumeForApiKey: async (w, s) => {
        const result = await w.platform.resolve(RateLimiter).consumeForApiKey(w.a.organizationId, idOf(s, 'apiKey'), { limit: 5, windowMs: 60_000 });
        expect(result.remaining).toBe(4);
        return result;
      },
    },
  },
  RedisKeys: {
    seed: async (w) => ({ ids: {}, markers: [w.b.organizationId] }),
    snapshotShowsSeed: false,
    snapshot: async () => null,
    methods: {
      cache: async (w) => w.platform.resolve(RedisKeys).cache('settings', w.a.organizationId),
      rateLimitApiKey: async (w) => w.platform.resolve(RedisKeys).rateLimitApiKey(w.a.organizationId, 'k1'),
      voice: async (w) => w.platform.resolve(RedisKeys).voice(w.a.organizationId, 'c'.repeat(64)),
    },
  },
  VoiceCache: {
    async seed(w) {
      const m = marker('audio');
      const request = { text: 'hello', voice: 'alto', format: 'mp3' };
      const { contentHash } = await w.platform.resolve(VoiceCache).getOrSynthesize(w.b.organizationId, request, async () => Buffer.from(m));
      return { ids: { hash: contentHash }, markers: [m], derived: ['hash'] };
    },
    snapshot: async (w, s) => (await w.platform.resolve(VoiceCache).get(w.b.organizationId, idOf(s, 'hash')))?.toString('utf8'),
    methods: {
      get: (w, s) => w.platform.resolve(VoiceCache).get(w.a.organizationId, idOf(s, 'hash')),
      delete: (w, s) => w.platform.resolve(VoiceCache).delete(w.a.organizationId, idOf(s, 'hash')),
      getOrSynthesize: async (w) => {
        const result = await w.platform
          .resolve(VoiceCache)
          .getOrSynthesize(w.a.organizationId, { text: 'hello', voice: 'alto', format: 'mp3' }, async () => Buffer.from('A audio'));
        expect(result.cached).toBe(false);
        return result;
      },
      put: (w, s) => w.platform.resolve(VoiceCache).put(w.a.organizationId, idOf(s, 'hash'), Buffer.from('A audio')),
    },
  },
};
