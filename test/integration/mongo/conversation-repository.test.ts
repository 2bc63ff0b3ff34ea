import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../../src/errors.js';
import { ConversationRepository, type Conversation } from '../../../src/mongo/repositories/conversation-repository.js';
import { MessageRepository, type Message } from '../../../src/mongo/repositories/message-repository.js';
import { AdminScope } from '../../../src/tenancy/admin-scope.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { tenant } from '../../support/mongo-test-platform.js';
import { test } from '../../support/fixtures.js';
import { MongoConnection } from '../../../src/mongo/mongo-connection.js';

describe('ConversationRepository and MessageRepository', () => {
  let conversations: ConversationRepository;
  let messages: MessageRepository;
  test.beforeAll(async ({ mongo: m }) => {
    conversations = m.platform.resolve(ConversationRepository);
    messages = m.platform.resolve(MessageRepository);
  });

  test('creates, gets, renames and archives a conversation as plain objects', async () => {
    const ctx = tenant();
    const created = await conversations.create(ctx, { title: '  Plans  ' });
    expect(created).toMatchObject({
      organizationId: ctx.organizationId,
      userId: ctx.userId,
      title: 'Plans',
      status: 'active',
      messageCount: 0,
      tokenCount: 0,
      personaId: null,
    });
    expect(created.createdAt).toBeInstanceOf(Date);
    // Issue 19: a new conversation's last activity is its creation, never a moment before it.
    expect(created.lastMessageAt.getTime()).toBe(created.createdAt.getTime());
    expect(Object.getPrototypeOf(created)).toBe(Object.prototype);
    expect(await conversations.get(ctx, created.id)).toEqual(created);
    expect((await conversations.rename(ctx, created.id, 'Renamed')).title).toBe('Renamed');
    expect((await conversations.archive(ctx, created.id)).status).toBe('archived');
    await expect(messages.append(ctx, created.id, { role: 'user', content: 'hi' })).rejects.toBeInstanceOf(ConflictError);
  });

  test('rejects bad input with a ValidationError naming the field', async () => {
    const ctx = tenant();
    const error = await conversations.create(ctx, { title: '' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields).toEqual(['title']);
    const c = await conversations.create(ctx, { title: 'x' });
    const bad = await messages.append(ctx, c.id, { role: 'robot' as 'user', content: 'x', tokenCount: -1 }).catch((e: unknown) => e);
    expect((bad as ValidationError).fields.sort()).toEqual(['role', 'tokenCount']);
  });

  test('keeps a summary and metadata on the conversation, set at creation or later, and validates both', async () => {
    const ctx = tenant();
    const created = await conversations.create(ctx, { title: 'Support', metadata: { channel: 'web', tags: ['billing'] } });
    expect(created).toMatchObject({ summary: null, metadata: { channel: 'web', tags: ['billing'] } });
    const annotated = await conversations.annotate(ctx, created.id, { summary: '  The customer asks about invoices.  ' });
    expect(annotated).toMatchObject({ summary: 'The customer asks about invoices.', metadata: { channel: 'web', tags: ['billing'] } });
    expect(await conversations.get(ctx, created.id)).toEqual(annotated);
    const replaced = await conversations.annotate(ctx, created.id, { summary: null, metadata: { channel: 'api' } });
    expect(replaced).toMatchObject({ summary: null, metadata: { channel: 'api' } });
    // Another organization's id is no conversation.
    await expect(conversations.annotate(tenant(), created.id, { summary: 'x' })).rejects.toBeInstanceOf(NotFoundError);

    const refused = async (input: Parameters<ConversationRepository['annotate']>[2]) =>
      ((await conversations.annotate(ctx, created.id, input).catch((e: unknown) => e)) as ValidationError).fields;
    expect(await refused({ summary: '' })).toEqual(['summary']);
    expect(await refused({ summary: 'x'.repeat(10_001) })).toEqual(['summary']);
    expect(await refused({ metadata: { $where: 'sleep(1000)' } })).toEqual(['metadata']);
    expect(await refused({ metadata: { blob: 'x'.repeat(9_000) } })).toEqual(['metadata']);
    expect(await refused({ metadata: { at: new Date() } as Record<string, unknown> })).toEqual(['metadata']);
    expect(await conversations.get(ctx, created.id)).toEqual(replaced);
  });

  test('stores typed metadata on a message (model, prompt/completion tokens, latency) and refuses anything else', async ({ mongo: m }) => {
    const ctx = tenant();
    const c = await conversations.create(ctx, { title: 'Metered' });
    const plain = await messages.append(ctx, c.id, { role: 'user', content: 'Hello?' });
    expect(plain.metadata).toBeNull();
    const metadata = { model: 'gpt-4o-2024-08-06', promptTokens: 12, completionTokens: 30, latencyMs: 840 };
    const reply = await messages.append(ctx, c.id, { role: 'assistant', content: 'Hi!', tokenCount: 42, metadata });
    expect(reply.metadata).toEqual(metadata);
    expect((await messages.pageBackwards(ctx, c.id)).items.map((m) => m.metadata)).toEqual([null, metadata]);

    const refused = async (bad: Record<string, unknown>) =>
      (
        (await messages
          .append(ctx, c.id, { role: 'assistant', content: 'x', metadata: bad as NonNullable<Message['metadata']> })
          .catch((e: unknown) => e)) as ValidationError
      ).fields;
    expect(await refused({ promptTokens: -1 })).toEqual(['metadata.promptTokens']);
    expect(await refused({ completionTokens: 1.5 })).toEqual(['metadata.completionTokens']);
    expect(await refused({ latencyMs: 'fast' })).toEqual(['metadata.latencyMs']);
    expect(await refused({ model: '' })).toEqual(['metadata.model']);
    expect(await refused({ temperature: 0.2 })).toEqual(['metadata']);
    expect(await messages.countByConversation(ctx, c.id)).toBe(2);

    // The collection's validator holds the same shape for writers that bypass the repository (MongoDB error 121).
    const db = m.platform.resolve(MongoConnection).connection.db!;
    const raw = {
      _id: crypto.randomUUID(),
      organizationId: ctx.organizationId,
      conversationId: c.id,
      seq: 99,
      role: 'assistant',
      content: 'x',
      tokenCount: 0,
      createdAt: new Date(),
    };
    await expect(db.collection('messages').insertOne({ ...raw, metadata: { promptTokens: 'twelve' } } as never)).rejects.toMatchObject({ code: 121 });
    await expect(db.collection('messages').insertOne({ ...raw, metadata: { seed: 7 } } as never)).rejects.toMatchObject({ code: 121 });
  });

  test('appends 50 messages concurrently: seq 1..50 unique, counters exact', async () => {
    const ctx = tenant();
    const c = await conversations.create(ctx, { title: 'busy' });
    const appended = await Promise.all(
      Array.from({ length: 50 }, (_, i) => messages.append(ctx, c.id, { role: i % 2 ? 'assistant' : 'user', content: `m${i}`, tokenCount: i + 1 })),
    );
    expect(appended.map((x) => x.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const after = await conversations.get(ctx, c.id);
    expect(after.messageCount).toBe(50);
    expect(after.tokenCount).toBe((50 * 51) / 2);
    expect(after.lastMessageAt.getTime()).toBe(Math.max(...appended.map((x) => x.createdAt.getTime())));
    expect(await messages.countByConversation(ctx, c.id)).toBe(50);

    // Page backwards through all 50, 20 at a time.
    const seen: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await messages.pageBackwards(ctx, c.id, { cursor, limit: 20 });
      const seqs = page.items.map((x) => x.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      seen.unshift(...seqs);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test('lists by user with keyset pagination (lastMessageAt desc, id desc), stable and complete', async () => {
    const ctx = tenant();
    const other = createTenantContext({ ...ctx, actor: undefined, userId: crypto.randomUUID() });
    const made = [];
    for (let i = 0; i < 7; i++) made.push(await conversations.create(ctx, { title: `c${i}` }));
    await conversations.create(other, { title: 'someone else' });
    // Activity reorders: c2 becomes the newest.
    await messages.append(ctx, made[2]!.id, { role: 'user', content: 'bump' });
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await conversations.listByUser(ctx, { limit: 3, cursor });
      expect(page.items.length).toBeLessThanOrEqual(3);
      ids.push(...page.items.map((x) => x.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(ids).toHaveLength(7);
    expect(new Set(ids).size).toBe(7);
    expect(ids[0]).toBe(made[2]!.id);
    const all = await conversations.listByUser(ctx, { limit: 100 });
    const keys = all.items.map((x) => [x.lastMessageAt.getTime(), x.id] as const);
    const sorted = [...keys].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0));
    expect(keys).toEqual(sorted);
    await expect(conversations.listByUser(ctx, { cursor: 'nonsense' })).rejects.toMatchObject({ fields: ['cursor'] });
  });

  test('organization A never sees or touches organization B', async () => {
    const a = tenant();
    const b = tenant();
    const bConversation = await conversations.create(b, { title: 'secret' });
    await messages.append(b, bConversation.id, { role: 'user', content: 'b only', tokenCount: 3 });
    // A same-user id in another organization changes nothing either.
    const aSameUser = createTenantContext({ organizationId: a.organizationId, userId: b.userId, role: 'owner', scopes: [] });
    for (const ctx of [a, aSameUser]) {
      await expect(conversations.get(ctx, bConversation.id)).rejects.toBeInstanceOf(NotFoundError);
      expect((await conversations.listByUser(ctx, { userId: b.userId })).items).toEqual([]);
      await expect(conversations.rename(ctx, bConversation.id, 'pwned')).rejects.toBeInstanceOf(NotFoundError);
      await expect(conversations.archive(ctx, bConversation.id)).rejects.toBeInstanceOf(NotFoundError);
      await expect(messages.append(ctx, bConversation.id, { role: 'user', content: 'x' })).rejects.toBeInstanceOf(NotFoundError);
      expect((await messages.pageBackwards(ctx, bConversation.id)).items).toEqual([]);
      expect(await messages.countByConversation(ctx, bConversation.id)).toBe(0);
      expect(await conversations.delete(ctx, bConversation.id)).toBe(false);
    }
    const still = await conversations.get(b, bConversation.id);
    expect(still).toMatchObject({ title: 'secret', status: 'active', messageCount: 1, tokenCount: 3 });
    expect(await messages.countByConversation(b, bConversation.id)).toBe(1);
  });

  test('deletes a conversation together with its messages', async () => {
    const ctx = tenant();
    const c = await conversations.create(ctx, { title: 'doomed' });
    for (let i = 0; i < 5; i++) await messages.append(ctx, c.id, { role: 'user', content: `${i}` });
    expect(await conversations.delete(ctx, c.id)).toBe(true);
    await expect(conversations.get(ctx, c.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(await messages.countByConversation(ctx, c.id)).toBe(0);
    expect(await conversations.delete(ctx, c.id)).toBe(false);
  });

  test('admin: lists and erases everything of one user across organizations, nothing of others', async () => {
    const scope = AdminScope.create({ actor: 'test', reason: 'gdpr' });
    const a = tenant();
    const sameUserInB = createTenantContext({ organizationId: crypto.randomUUID(), userId: a.userId, role: 'member', scopes: [] });
    const colleague = createTenantContext({ ...a, actor: undefined, userId: crypto.randomUUID() });
    for (const ctx of [a, sameUserInB, colleague]) {
      const c = await conversations.create(ctx, { title: 't' });
      await messages.append(ctx, c.id, { role: 'user', content: `from ${ctx.userId}` });
      await messages.append(ctx, c.id, { role: 'assistant', content: 'reply' });
    }
    const listed: Conversation[] = [];
    for await (const c of conversations.listAllForUser(scope, a.userId)) listed.push(c);
    expect(listed.map((c) => c.organizationId).sort()).toEqual([a.organizationId, sameUserInB.organizationId].sort());
    const exported: Message[] = [];
    for await (const msg of messages.listAllForUser(scope, a.userId)) exported.push(msg);
    expect(exported).toHaveLength(4);
    expect(exported.every((msg) => listed.some((c) => c.id === msg.conversationId))).toBe(true);

    expect(await conversations.deleteAllForUser(scope, a.userId)).toEqual({ conversations: 2, messages: 4 });
    expect(await conversations.deleteAllForUser(scope, a.userId)).toEqual({ conversations: 0, messages: 0 });
    expect((await conversations.listByUser(a)).items).toEqual([]);
    expect((await conversations.listByUser(colleague)).items).toHaveLength(1);
    const forged = { actor: 'x', reason: 'y' } as unknown as AdminScope;
    expect(() => conversations.listAllForUser(forged, a.userId)).toThrow(/AdminScope/);
  });
});
