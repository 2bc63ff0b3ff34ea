import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { PasswordSignIn } from '../../src/flows/auth/password-sign-in.js';
import { SessionValidator } from '../../src/flows/auth/session-validator.js';
import { bootstrapPlatform } from '../../src/flows/bootstrap-platform.js';
import { KnowledgeIngestion } from '../../src/flows/knowledge/knowledge-ingestion.js';
import { KnowledgeSearch } from '../../src/flows/knowledge/knowledge-search.js';
import { ConversationRepository } from '../../src/mongo/repositories/conversation-repository.js';
import { MessageRepository } from '../../src/mongo/repositories/message-repository.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { AuditWriter } from '../../src/postgres/repositories/audit-writer.js';
import { SecuritySettingsRepository } from '../../src/postgres/repositories/security-settings-repository.js';
import { JobQueues } from '../../src/redis/job-queues.js';
import { createTenantContext, type TenantContext } from '../../src/tenancy/tenant-context.js';
import { Figures } from './reliability-support.js';
import { PASSWORD } from '../support/auth-fixtures.js';
import { expectSignedIn } from '../../src/flows/auth/expect-signed-in.js';
import { requireStores } from '../support/require-stores.js';
import { test } from '../support/fixtures.js';

const figures = new Figures('soak');
const OPERATIONS = 2000;
const CONCURRENCY = 8;
const USERS = 6;

interface SoakUser {
  readonly email: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly ctx: TenantContext;
  readonly conversations: string[];
  readonly documentIds: Set<string>;
  readonly sessions: Array<{ sessionId: string; jti: string }>;
}

// The mixed workload touches every store: the platform runs all four.
test.override('flowStores', ['postgres', 'redis', 'mongo', 'qdrant']);

describe.skipIf(!requireStores('postgres', 'redis', 'mongo', 'qdrant'))('soak: a bounded mixed workload loses and duplicates nothing', () => {
  const users: SoakUser[] = [];

  test.beforeAll(async ({ flow: h }) => {
    const boot = await bootstrapPlatform(h.platform, { waitMs: 10_000 });
    expect(boot.every((b) => b.status === 'provisioned')).toBe(true);
    const ingestion = h.platform.resolve(KnowledgeIngestion);
    const conversations = h.platform.resolve(ConversationRepository);
    for (let i = 0; i < USERS; i++) {
      const u = await h.user();
      const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner', scopes: [] });
      // The schedule validates every session it created (~35 per user): above the default limit of 5 live sessions (issue 20).
      await h.platform.resolve(SecuritySettingsRepository).update(ctx, { maxConcurrentSessions: 1000 });
      const convs = [(await conversations.create(ctx, { title: `a-${i}` })).id, (await conversations.create(ctx, { title: `b-${i}` })).id];
      const doc = await ingestion.ingestDocument(ctx, {
        source: `soak/${i}.md`,
        title: `policy ${i}`,
        content: `Refunds for organization ${i} take five to ten business days.\n\nPasswords are locked after five failed attempts.`,
      });
      users.push({ ...u, ctx, conversations: convs, documentIds: new Set([doc.document.id]), sessions: [] });
    }
    const worker = await ingestion.startIngestionWorker({ concurrency: 2 });
    try {
      for (const u of users) {
        const waited = await ingestion.waitForIndexing(
          u.ctx,
          [...u.documentIds].map((id) => ({ id, version: 1 })),
          { timeoutMs: 20_000 },
        );
        expect(waited.unsettled).toEqual([]);
      }
    } finally {
      await worker.close();
    }
  }, 90_000);

  test.afterAll(async ({ flow: h }) => {
    await h?.platform
      .resolve(JobQueues)
      .close()
      .catch(() => undefined);
    await figures.flush();
  });

  test(`${OPERATIONS} operations (logins, validations, message appends, searches), ${CONCURRENCY} at a time: counts match what was sent`, async ({
    flow: h,
  }) => {
    const signIn = h.platform.resolve(PasswordSignIn);
    const validator = h.platform.resolve(SessionValidator);
    const messages = h.platform.resolve(MessageRepository);
    const search = h.platform.resolve(KnowledgeSearch);
    const sent = { login: 0, validate: 0, append: 0, search: 0 };
    const logins = new Map<string, number>();
    const appends = new Map<string, number>();
    const errors: unknown[] = [];
    let wrongAnswers = 0;
    // One login per user first, so validations always have a session to ask about.
    for (const u of users) {
      const s = expectSignedIn(await signIn.login(u.email, PASSWORD, {}));
      u.sessions.push({ sessionId: s.sessionId, jti: s.accessTokenJti });
      logins.set(u.userId, 1);
      sent.login++;
    }

    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < OPERATIONS) {
        const i = next++;
        // A fixed schedule: which operation and which user depend only on i.
        const u = users[(i * 7 + 3) % USERS]!;
        const kind = i % 10 === 0 ? 'login' : i % 10 <= 4 ? 'validate' : i % 10 <= 7 ? 'append' : 'search';
        try {
          if (kind === 'login') {
            const s = expectSignedIn(await signIn.login(u.email, PASSWORD, {}));
            u.sessions.push({ sessionId: s.sessionId, jti: s.accessTokenJti });
            logins.set(u.userId, (logins.get(u.userId) ?? 0) + 1);
          } else if (kind === 'validate') {
            const s = u.sessions[i % u.sessions.length]!;
            const v = await validator.validate(i % 2 === 0 ? { userId: u.userId, sessionId: s.sessionId } : { userId: u.userId, jti: s.jti });
            if (v.sessionId !== s.sessionId || v.organizationId !== u.organizationId) wrongAnswers++;
          } else if (kind === 'append') {
            const conversationId = u.conversations[i % 2]!;
            await messages.append(u.ctx, conversationId, { role: i % 3 === 0 ? 'assistant' : 'user', content: `message ${i}` });
            appends.set(conversationId, (appends.get(conversationId) ?? 0) + 1);
          } else {
            const hits = await search.semanticSearch(u.ctx, 'how long do refunds take?', { limit: 3 });
            if (hits.length === 0 || hits.some((hit) => !u.documentIds.has(hit.documentId))) wrongAnswers++;
          }
          sent[kind]++;
        } catch (error) {
          errors.push(error);
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const ms = performance.now() - started;
    process.stdout.write(`[soak] ${OPERATIONS} operations in ${ms.toFixed(0)} ms\n`);
    await h.platform.resolve(AuditWriter).flush();

    // What the stores hold, against what was sent.
    const pgc = h.platform.resolve(PostgresConnection);
    const userIds = users.map((u) => u.userId);
    const perUser = await pgc.ownerPool.any(sql.type(z.object({ user_id: z.string(), sessions: z.number(), audited: z.number() }))`
      SELECT u.id AS user_id,
             (SELECT count(*) FROM sessions s WHERE s.user_id = u.id)::int AS sessions,
             (SELECT count(*) FROM audit_log a WHERE a.actor_user_id = u.id AND a.event_type = 'auth.login.succeeded')::int AS audited
      FROM users u WHERE u.id = ANY(${sql.array(userIds, 'uuid')})`);
    let lost = 0;
    let duplicated = 0;
    for (const row of perUser) {
      const expected = logins.get(row.user_id) ?? 0;
      lost += Math.max(0, expected - row.sessions) + Math.max(0, expected - row.audited);
      duplicated += Math.max(0, row.sessions - expected) + Math.max(0, row.audited - expected);
    }
    const conversations = h.platform.resolve(ConversationRepository);
    let gaps = 0;
    for (const u of users) {
      for (const conversationId of u.conversations) {
        const expected = appends.get(conversationId) ?? 0;
        const seqs: number[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 100; page++) {
          const p = await messages.pageBackwards(u.ctx, conversationId, { limit: 200, ...(cursor === undefined ? {} : { cursor }) });
          seqs.unshift(...p.items.map((m) => m.seq));
          cursor = p.nextCursor;
          if (cursor === undefined) break;
        }
        const conversation = await conversations.get(u.ctx, conversationId);
        lost += Math.max(0, expected - seqs.length);
        duplicated += Math.max(0, seqs.length - new Set(seqs).size) + Math.max(0, seqs.length - expected);
        if (seqs.join() !== Array.from({ length: expected }, (_, k) => k + 1).join() || conversation.messageCount !== expected) gaps++;
      }
    }

    const totalSent = sent.login + sent.validate + sent.append + sent.search;
    figures.set('a-mixed', {
      check: `${OPERATIONS} scheduled operations + ${USERS} initial logins, ${CONCURRENCY} concurrent, over ${USERS} users / ${USERS * 2} conversations / ${USERS} indexed documents (loopback)`,
      measured: `${sent.login} logins, ${sent.validate} validations, ${sent.append} message appends, ${sent.search} searches completed; errors ${errors.length}; wrong answers ${wrongAnswers}; lost ${lost}; duplicated ${duplicated}; conversations whose seq is not exactly 1..n ${gaps}`,
    });
    expect(errors.map((e) => String(e))).toEqual([]);
    expect(totalSent).toBe(OPERATIONS + USERS);
    expect(sent).toEqual({ login: OPERATIONS / 10 + USERS, validate: (OPERATIONS * 4) / 10, append: (OPERATIONS * 3) / 10, search: (OPERATIONS * 2) / 10 });
    expect(wrongAnswers).toBe(0);
    expect(perUser).toHaveLength(USERS);
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
    expect(gaps).toBe(0);
  }, 60_000);
});
